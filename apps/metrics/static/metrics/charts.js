/*
 * The dashboard's charts on Chart.js 4 (window.Chart: static/vendor/chartjs/chart.umd.min.js, copied from
 * npm by `make install`, served by the app; nothing is loaded from a CDN).
 *
 *   TfCharts.draw(canvas, data)  -> a Chart, or null when the range has nothing to show
 *
 * data is a chart endpoint's JSON: {title, labels, series: [{name, values}], unit, ...} with, per chart,
 * prs_merged or answered (line charts, one per week) or descriptions (the size buckets of the bar chart).
 * canvas.dataset.chart is "line" or "bar"; data-max fixes the top of the value axis (100 for a share).
 * Legends, tooltips (hover or touch a column), axis titles and ticks with units are Chart.js's. It sizes
 * the canvas to its box and the backing store by devicePixelRatio, and redraws when either changes.
 * Null values leave gaps in lines. After each render canvas.dataset.state is "drawn".
 */
(function (global) {
  "use strict";

  const PALETTE = ["#0969da", "#8250df", "#1a7f37", "#bf8700", "#cf222e"];
  const EMPTY_TEXT = "No data in this range";
  const UNITS = { hours: { suffix: " h", name: "hours" }, "%": { suffix: "%", name: "%" } };  // counts go bare
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  const isNumber = (value) => typeof value === "number" && Number.isFinite(value);
  const plural = (count, word) => count + " " + word + (count === 1 ? "" : "s");

  function formatValue(value, unit) {
    if (!isNumber(value)) return "—";
    const digits = Number.isInteger(value) ? 0 : 2;
    const text = value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
    return text + ((UNITS[unit] || {}).suffix || "");
  }

  // "2026-03-02" -> "Mar 2", or "Mar 2 '26" (labels are the weeks' Mondays, UTC).
  function shortDate(iso, withYear) {
    const parts = String(iso).split("-");
    if (parts.length !== 3) return String(iso);
    const day = MONTHS[Number(parts[1]) - 1] + " " + Number(parts[2]);
    return withYear ? day + " '" + parts[0].slice(2) : day;
  }

  // Nothing to draw: no figure at all (lines), or nothing but zeros (bars: every bucket is always listed).
  function isEmpty(kind, data) {
    const values = data.series.flatMap((serie) => serie.values || []);
    return !values.some((value) => isNumber(value) && (kind !== "bar" || value !== 0));
  }

  const markDrawn = { id: "tfState", afterRender: (chart) => { chart.canvas.dataset.state = "drawn"; } };

  function draw(canvas, data) {
    const kind = canvas.dataset.chart === "bar" ? "bar" : "line";
    if (isEmpty(kind, data)) return null;
    const Chart = global.Chart;
    Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", sans-serif';
    Chart.defaults.color = "#57606a";
    const unit = data.unit;
    const labels = data.labels;
    const withYear = labels.length > 1 && String(labels[0]).slice(0, 4) !== String(labels[labels.length - 1]).slice(0, 4);
    const descriptions = data.descriptions || [];
    const first = data.series[0] || { name: "" };
    const valueTitle = UNITS[unit] ? first.name + " (" + UNITS[unit].name + ")" : first.name;
    // A dot on every point when there is room, and always on a lone one (a line of one point is invisible).
    const pointRadius = (context) => {
      const values = context.dataset.data;
      const index = context.dataIndex;
      return labels.length <= 40 || (!isNumber(values[index - 1]) && !isNumber(values[index + 1])) ? 2.5 : 0;
    };
    const datasets = data.series.map((serie, index) => {
      const color = PALETTE[index % PALETTE.length];
      return kind === "bar"
        ? { label: serie.name, data: serie.values, backgroundColor: color, borderRadius: 3, maxBarThickness: 90 }
        : {
            label: serie.name, data: serie.values, borderColor: color, backgroundColor: color + "14",
            fill: data.series.length === 1 ? "origin" : false, borderWidth: 2, tension: 0,
            pointRadius: pointRadius, pointHoverRadius: 4.5, pointBackgroundColor: "#fff",
          };
    });
    const reduceMotion = global.matchMedia && global.matchMedia("(prefers-reduced-motion: reduce)").matches;
    return new Chart(canvas, {
      type: kind,
      data: { labels: labels, datasets: datasets },
      plugins: [markDrawn],
      options: {
        responsive: true,
        maintainAspectRatio: false,  // the height is the .chart-box's
        animation: reduceMotion ? false : { duration: 400 },
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { position: "top", align: "start", labels: { boxWidth: 12, boxHeight: kind === "bar" ? 12 : 3 } },
          tooltip: {
            callbacks: {
              title: (items) => {
                const index = items[0].dataIndex;
                if (kind === "line") return "Week of " + shortDate(labels[index], true);
                return descriptions[index] ? labels[index] + " (" + descriptions[index] + ")" : labels[index];
              },
              label: (item) => item.dataset.label + ": " + formatValue(item.raw, unit),
              afterBody: (items) => {
                const index = items[0].dataIndex;
                if (data.prs_merged) return plural(data.prs_merged[index], "PR") + " merged";
                if (data.answered) return plural(data.answered[index], "answered survey");
                if (data.lines_accepted) return plural(data.lines_accepted[index], "line") + " accepted";
                if (data.suggestions_shown) return plural(data.suggestions_shown[index], "suggestion") + " shown";
                return "";
              },
            },
          },
        },
        scales: {
          x: {
            grid: { display: false },
            title: { display: true, text: kind === "line" ? "Week (Mondays, UTC)" : "Lines added + deleted" },
            ticks: {
              maxRotation: 0,
              callback: function (value, index) {
                const label = this.getLabelForValue(value);
                if (kind === "line") return shortDate(label, withYear);
                return descriptions[index] && this.chart.width >= 420 ? [label, descriptions[index]] : label;
              },
            },
          },
          y: {
            beginAtZero: true,
            max: canvas.dataset.max ? Number(canvas.dataset.max) : undefined,
            title: { display: true, text: valueTitle },
            ticks: {
              precision: unit === "PRs" || unit === "users" ? 0 : undefined,  // counts tick in whole numbers
              callback: (value) => value.toLocaleString("en-US") + ((UNITS[unit] || {}).suffix || ""),
            },
          },
        },
      },
    });
  }

  global.TfCharts = { draw: draw, formatValue: formatValue, isEmpty: isEmpty, EMPTY_TEXT: EMPTY_TEXT };
})(window);
