/* Show a dossier's process in bpmn-js. `showProcess(container, onShown)` loads the BPMN named by
   data-url, lets `onShown(canvas, registry, mark)` add markers, and reports data-ready for tests.
   On the fiche de suivi it marks the elements already passed and those waiting. */
(function () {
  "use strict";

  function parse(element, name) {
    try { return JSON.parse(element.dataset[name] || "[]"); } catch (e) { return []; }
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
        onShown(canvas, registry, mark, viewer);
        container.setAttribute("data-ready", "1");
      })
      .catch(function () {
        container.textContent = "Le diagramme n'a pas pu être affiché.";
        container.setAttribute("data-ready", "error");
      });
  }

  window.SignalementDiagram = { show: showProcess, parse: parse };

  var container = document.getElementById("diagramme");
  if (!container || !window.BpmnJS || container.dataset.role === "audit" || container.dataset.role === "versions") { return; }
  showProcess(container, function (canvas, registry, mark) {
    canvas.zoom("fit-viewport");
    mark(parse(container, "visited"), "visite");
    mark(parse(container, "active"), "actif");
  });
}());
