/* The diagram of a process version with, on each element, how many running dossiers wait there. */
(function () {
  "use strict";
  var container = document.getElementById("diagramme");
  if (!container || !window.SignalementDiagram || container.dataset.role !== "versions") { return; }
  var counts = {};
  try { counts = JSON.parse(container.dataset.counts || "{}"); } catch (e) { counts = {}; }
  window.SignalementDiagram.show(container, function (canvas, registry, mark, viewer) {
    canvas.zoom("fit-viewport");
    var overlays = viewer.get("overlays");
    Object.keys(counts).forEach(function (id) {
      if (!registry.get(id)) { return; }
      var badge = document.createElement("span");
      badge.className = "compte-attente";
      badge.textContent = String(counts[id]);
      badge.title = counts[id] + (counts[id] > 1 ? " dossiers en attente" : " dossier en attente");
      overlays.add(id, { position: { top: -12, right: 12 }, html: badge, scale: false });  // readable at any zoom
      canvas.addMarker(id, "actif");
    });
  });
}());
