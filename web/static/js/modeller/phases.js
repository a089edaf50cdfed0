/* The annex's phases are BPMN groups (processes/*.bpmn); the « Phase » menu and « Ajuster » show one phase at a
   readable zoom (never below MIN_SCALE: labels stay legible), the minimap gives the overview. */
export const MIN_SCALE = 0.6;
const MARGIN = 24;

/** The diagram's groups with their label, in reading order (left to right, then top to bottom). */
export function phases(modeler) {
  return modeler.get('elementRegistry').filter((el) => el.type === 'bpmn:Group').map((el) => {
    const value = el.businessObject.categoryValueRef;
    return { id: el.id, label: (value && value.value) || el.businessObject.name || el.id, element: el };
  }).sort((a, b) => a.element.x - b.element.x || a.element.y - b.element.y);
}

/** Shows a box of the diagram: whole when it fits at MIN_SCALE or more, else its left part at MIN_SCALE. */
export function showBox(canvas, box) {
  const outer = canvas.viewbox().outer;
  const fit = Math.min((outer.width - 2 * MARGIN) / box.width, (outer.height - 2 * MARGIN) / box.height, 1);
  const scale = Math.max(fit, MIN_SCALE);
  const width = outer.width / scale;
  const height = outer.height / scale;
  const x = box.width * scale <= outer.width - 2 * MARGIN ? box.x + box.width / 2 - width / 2 : box.x - MARGIN / scale;
  const y = box.height * scale <= outer.height - 2 * MARGIN ? box.y + box.height / 2 - height / 2 : box.y - MARGIN / scale;
  canvas.viewbox({ x, y, width, height });
  return scale;
}

export function showPhase(modeler, id) {
  const el = modeler.get('elementRegistry').get(id);
  return el ? showBox(modeler.get('canvas'), el) : null;
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
