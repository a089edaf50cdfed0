/* Charts of the statistics page, drawn with Chart.js from the data each figure carries.
   The tables under them hold the same figures: without JavaScript or without the npm assets
   (window.Chart missing), the page stays complete and only the charts are absent. */
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") {
    return;
  }
  var COLOURS = ["#000091", "#6a6af4", "#c9191e", "#18753c", "#b34000"];
  var numbers = new Intl.NumberFormat("fr-FR", { maximumFractionDigits: 1 });
  // A long category is written over several lines (Chart.js draws an array as lines): never cut on the left.
  function lines(label, width) {
    var words = String(label).split(" "), out = [], line = "";
    words.forEach(function (word) {
      if (line && (line + " " + word).length > width) { out.push(line); line = word; } else { line = line ? line + " " + word : word; }
    });
    if (line) { out.push(line); }
    return out;
  }
  window.Chart.defaults.locale = "fr-FR";
  window.Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif";
  document.querySelectorAll("figure.stat-graphique[data-chart]").forEach(function (figure) {
    var data;
    try {
      data = JSON.parse(figure.getAttribute("data-chart"));
    } catch (error) {
      return;  // a figure without readable data keeps its table only
    }
    var horizontal = data.type === "bar" && data.labels.length > 6;
    figure.classList.add("dessine");  // displayed first: its width decides how long a label's line may be
    var width = figure.clientWidth < 480 ? 16 : 28;
    var labels = data.labels.map(function (label) { return horizontal ? lines(label, width) : [label]; });
    if (horizontal) {
      var rows = labels.reduce(function (sum, label) { return sum + label.length; }, 0);
      figure.style.height = Math.max(16, 1.1 * rows + 0.6 * data.labels.length) + "rem";  // room for every line
    }
    var canvas = document.createElement("canvas");
    figure.appendChild(canvas);
    new window.Chart(canvas, {
      type: data.type === "line" ? "line" : "bar",
      data: {
        labels: data.labels,
        datasets: data.series.map(function (serie, index) {
          return { label: serie.name, data: serie.values, backgroundColor: COLOURS[index % COLOURS.length],
                   borderColor: COLOURS[index % COLOURS.length], tension: 0 };
        })
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        layout: { padding: { left: 4 } },
        indexAxis: horizontal ? "y" : "x",
        plugins: {
          legend: { display: data.series.length > 1 },
          tooltip: { callbacks: { label: function (item) {
            return item.dataset.label + " : " + numbers.format(item.raw) + (data.unit ? " " + data.unit : "");
          } } }
        },
        scales: {
          x: { beginAtZero: true, ticks: { precision: 0 } },
          y: { beginAtZero: true, ticks: horizontal ? {
            autoSkip: false,
            callback: function (value) { return lines(this.getLabelForValue(value), width); }
          } : { precision: 0 } }
        }
      }
    });
  });
})();
