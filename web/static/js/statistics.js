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
    figure.classList.add("dessine");
    if (horizontal) {
      figure.style.height = Math.max(16, 1.6 * data.labels.length) + "rem";  // one readable line per category
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
        indexAxis: horizontal ? "y" : "x",
        plugins: {
          legend: { display: data.series.length > 1 },
          tooltip: { callbacks: { label: function (item) {
            return item.dataset.label + " : " + numbers.format(item.raw) + (data.unit ? " " + data.unit : "");
          } } }
        },
        scales: {
          x: { beginAtZero: true, ticks: { precision: 0 } },
          y: { beginAtZero: true, ticks: { precision: 0 } }
        }
      }
    });
  });
})();
