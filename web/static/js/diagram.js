/* Show a dossier's process in bpmn-js. `showProcess(container, onShown)` loads the BPMN named by
   data-url, lets `onShown(canvas, registry, mark, viewer)` add markers and return a "home" view function,
   adds zoom controls (buttons and keys: + - 0 for the whole process, 1 for the dossier's position, arrows
   to move) and reports data-ready for tests. The fiche de suivi opens on the dossier's current position. */
(function () {
  "use strict";

  function parse(element, name) {
    try { return JSON.parse(element.dataset[name] || "[]"); } catch (e) { return []; }
  }

  // At full size, centred on the given elements (the whole 13,000-pixel process is unreadable when fitted).
  function centreOn(canvas, elements) {
    var shown = elements.filter(Boolean);
    if (!shown.length) { canvas.zoom("fit-viewport"); return; }
    var left = Math.min.apply(null, shown.map(function (e) { return e.x; }));
    var top = Math.min.apply(null, shown.map(function (e) { return e.y; }));
    var right = Math.max.apply(null, shown.map(function (e) { return e.x + (e.width || 0); }));
    var bottom = Math.max.apply(null, shown.map(function (e) { return e.y + (e.height || 0); }));
    canvas.zoom(1);
    var outer = canvas.viewbox().outer;
    var scale = Math.min(1, outer.width / (right - left + 200), outer.height / (bottom - top + 200));
    var width = outer.width / scale;
    var height = outer.height / scale;
    canvas.viewbox({ x: (left + right) / 2 - width / 2, y: (top + bottom) / 2 - height / 2, width: width, height: height });
  }

  // Symbol buttons get a spoken name; worded ones are named by their text (WCAG 2.5.3).
  function button(label, text, action) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    if (label) { b.setAttribute("aria-label", label); b.title = label; }
    b.addEventListener("click", action);
    return b;
  }

  function addControls(container, canvas, home) {
    var zoom = function (factor) { canvas.zoom(canvas.zoom() * factor, "auto"); };
    var fit = function () { canvas.zoom("fit-viewport"); };
    var bar = document.createElement("div");
    bar.className = "zoom-diagramme";
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", "Zoom du diagramme");
    bar.appendChild(button("Zoom arrière", "−", function () { zoom(0.8); }));
    bar.appendChild(button("Zoom avant", "+", function () { zoom(1.25); }));
    bar.appendChild(button(null, "Tout le processus", fit));
    bar.appendChild(button(null, "Position du dossier", home));
    container.parentNode.insertBefore(bar, container);
    container.tabIndex = 0;
    container.setAttribute("aria-label", "Diagramme : + et − pour zoomer, 0 pour tout voir, 1 pour la position du dossier, flèches pour se déplacer");
    container.addEventListener("keydown", function (event) {
      var moves = { ArrowLeft: [80, 0], ArrowRight: [-80, 0], ArrowUp: [0, 80], ArrowDown: [0, -80] };
      if (event.key === "+" || event.key === "=") { zoom(1.25); }
      else if (event.key === "-") { zoom(0.8); }
      else if (event.key === "0") { fit(); }
      else if (event.key === "1") { home(); }
      else if (moves[event.key]) { canvas.scroll({ dx: moves[event.key][0], dy: moves[event.key][1] }); }
      else { return; }
      event.preventDefault();
    });
  }

  function showProcess(container, onShown) {
    var viewer = new window.BpmnJS({ container: container });
    return fetch(container.dataset.url, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        var mark = function (ids, marker) {
          ids.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, marker); } });
        };
        var home = onShown(canvas, registry, mark, viewer) || function () { canvas.zoom("fit-viewport"); };
        addControls(container, canvas, home);
        container.setAttribute("data-ready", "1");
      })
      .catch(function () {
        container.textContent = "Le diagramme n'a pas pu être affiché.";
        container.setAttribute("data-ready", "error");
      });
  }

  window.SignalementDiagram = { show: showProcess, parse: parse, centreOn: centreOn };

  var container = document.getElementById("diagramme");
  if (!container || !window.BpmnJS || container.dataset.role === "audit" || container.dataset.role === "versions") { return; }
  showProcess(container, function (canvas, registry, mark) {
    var visited = parse(container, "visited");
    var active = parse(container, "active");
    mark(visited, "visite");
    mark(active, "actif");
    // Where the dossier is: its waiting steps, else the last step it passed.
    var here = active.length ? active : visited.slice(-1);
    var home = function () { centreOn(canvas, here.map(function (id) { return registry.get(id); })); };
    home();
    return home;
  });
}());
