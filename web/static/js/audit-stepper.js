/* Auditor's stepper: show the process at step N (visited elements, taken flows, active tokens) and move
   between steps with the slider or the arrow keys. All data comes from data-* attributes (no inline script). */
(function () {
  "use strict";

  function parse(element, name) {
    try { return JSON.parse(element.dataset[name] || "[]"); } catch (e) { return []; }
  }

  var stepper = document.getElementById("stepper");
  if (stepper) {
    var slider = document.getElementById("curseur-etape");
    var output = document.getElementById("valeur-etape");
    var go = function (step) { window.location.assign(stepper.dataset.stepUrl + step); };
    slider.addEventListener("input", function () {
      output.textContent = slider.value + " / " + slider.max;
      slider.setAttribute("aria-valuetext", "Étape " + slider.value + " sur " + slider.max);
    });
    slider.addEventListener("change", function () { go(slider.value); });
    stepper.addEventListener("submit", function (event) { event.preventDefault(); go(slider.value); });
  }

  var container = document.getElementById("diagramme");
  if (!container || !window.BpmnJS || !window.SignalementDiagram) { return; }
  window.SignalementDiagram.show(container, function (canvas, registry, mark) {
    var current = parse(container, "current");
    var active = parse(container, "active");
    mark(parse(container, "visited"), "visite");
    mark(parse(container, "flows"), "flux-pris");
    mark(current, "etape-courante");
    mark(active, "actif");
    // The whole process is too wide to read: centre the view, at full size, on this step.
    var focus = registry.get(current[current.length - 1] || "") || registry.get(active[0] || "");
    var centre = function () {
      var outer = canvas.viewbox().outer;
      canvas.viewbox({ x: focus.x + focus.width / 2 - outer.width / 2, y: focus.y + focus.height / 2 - outer.height / 2,
                       width: outer.width, height: outer.height });
    };
    var home = function () { if (focus) { centre(); } else { canvas.zoom("fit-viewport"); } };
    home();
    var overview = document.getElementById("vue-ensemble");
    if (overview) {
      overview.hidden = false;
      overview.addEventListener("click", function () {
        var whole = overview.getAttribute("aria-pressed") !== "true";
        overview.setAttribute("aria-pressed", whole ? "true" : "false");
        if (whole || !focus) { canvas.zoom("fit-viewport"); } else { centre(); }
      });
    }
    return home;
  });
}());
