/* The annex's phases are BPMN groups (processes/*.bpmn); the « Phase » menu and « Ajuster » show one phase at a
   readable zoom (never below MIN_SCALE: labels stay legible), the minimap gives the overview. */
export const MIN_SCALE = 0.6;
const MARGIN = 24;
const PAD = { left: 110, right: MARGIN, top: MARGIN, bottom: 100 };  // screen pixels

/** The diagram's groups with their label, in reading order (left to right, then top to bottom). */
export function phases(modeler) {
  return modeler.get('elementRegistry').filter((el) => el.type === 'bpmn:Group').map((el) => {
    const value = el.businessObject.categoryValueRef;
    return { id: el.id, label: (value && value.value) || el.businessObject.name || el.id, element: el };
  }).sort((a, b) => a.element.x - b.element.x || a.element.y - b.element.y);
}

/** Shows a box of the diagram: whole when it fits at MIN_SCALE or more, else its left or top part at MIN_SCALE;
    clear of the palette (left) and of the overview strip and lint button (bottom). */
export function showBox(canvas, box) {
  const outer = canvas.viewbox().outer;
  const room = { width: outer.width - PAD.left - PAD.right, height: outer.height - PAD.top - PAD.bottom };
  const fit = Math.min(room.width / box.width, room.height / box.height, 1);
  const scale = Math.max(fit, MIN_SCALE);
  const width = outer.width / scale;
  const height = outer.height / scale;
  const x = box.width * scale <= room.width ? box.x + box.width / 2 - (room.width / 2 + PAD.left) / scale
    : box.x - PAD.left / scale;
  const y = box.height * scale <= room.height ? box.y + box.height / 2 - (room.height / 2 + PAD.top) / scale
    : box.y - PAD.top / scale;
  canvas.viewbox({ x, y, width, height });
  return scale;
}

/** Shows a phase: the tasks, events and gateways inside its group (the group when it has none). When they are
    too wide for the canvas at MIN_SCALE, the first screenful of them from the left, placed on their own lanes. */
export function showPhase(modeler, id) {
  const registry = modeler.get('elementRegistry');
  const canvas = modeler.get('canvas');
  const group = registry.get(id);
  if (!group) { return null; }
  let inside = registry.filter((e) => !e.waypoints && e.type !== 'label'
    && /(Task|Event|Gateway|SubProcess|CallActivity)$/.test(e.type)
    && e.x + e.width / 2 >= group.x && e.x + e.width / 2 <= group.x + group.width
    && e.y + e.height / 2 >= group.y && e.y + e.height / 2 <= group.y + group.height);
  if (!inside.length) { return showBox(canvas, group); }
  const left = Math.min(...inside.map((e) => e.x)) - 40;
  const visibleWidth = (canvas.viewbox().outer.width - PAD.left - PAD.right) / MIN_SCALE;
  inside = inside.filter((e) => e.x + e.width <= left + visibleWidth - 40);
  const x = Math.min(...inside.map((e) => e.x)) - 40;
  const y = Math.min(...inside.map((e) => e.y)) - 40;
  const right = Math.max(...inside.map((e) => e.x + e.width)) + 40;
  const bottom = Math.max(...inside.map((e) => e.y + e.height)) + 40;
  return showBox(canvas, { x, y, width: right - x, height: bottom - y });
}

/** The phase under the centre of the view (else the first one): what « Ajuster » fits. */
export function phaseAtCentre(modeler) {
  const box = modeler.get('canvas').viewbox();
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const all = phases(modeler);
  const inside = all.filter(({ element: e }) => cx >= e.x && cx <= e.x + e.width && cy >= e.y && cy <= e.y + e.height);
  const nearest = (list) => list.slice().sort((a, b) => distance(a.element, cx, cy) - distance(b.element, cx, cy))[0];
  return (inside.length ? nearest(inside) : nearest(all)) || null;
}

function distance(e, x, y) {
  return Math.hypot(e.x + e.width / 2 - x, e.y + e.height / 2 - y);
}

/** Shows one element (a problem's, a search result) at a readable zoom. */
export function showElement(modeler, el) {
  const box = el.waypoints ? boundsOf(el.waypoints) : el;
  return showBox(modeler.get('canvas'), { x: box.x - 200, y: box.y - 150, width: box.width + 400, height: box.height + 300 });
}

function boundsOf(points) {
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const x = Math.min(...xs);
  const y = Math.min(...ys);
  return { x, y, width: Math.max(...xs) - x, height: Math.max(...ys) - y };
}
