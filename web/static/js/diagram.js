/* Show the dossier's process in bpmn-js and mark the elements already passed and those waiting. */
(function () {
  "use strict";
  var container = document.getElementById("diagramme");
  if (!container || !window.BpmnJS) { return; }
  var visited = JSON.parse(container.dataset.visited || "[]");
  var active = JSON.parse(container.dataset.active || "[]");
  var viewer = new window.BpmnJS({ container: container });
  fetch(container.dataset.url, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      canvas.zoom("fit-viewport");
      visited.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "visite"); } });
      active.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "actif"); } });
      container.setAttribute("data-ready", "1");
    })
    .catch(function () {
      container.textContent = "Le diagramme n'a pas pu être affiché.";
      container.setAttribute("data-ready", "error");
    });
}());
