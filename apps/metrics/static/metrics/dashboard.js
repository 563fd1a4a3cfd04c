/*
 * The dashboard's charts: fetch each canvas's JSON endpoint (data-src) and draw it with TfCharts (charts.js,
 * on Chart.js). <canvas data-chart="line|bar" data-src="...json" [data-max="100"]>, followed by a
 * .chart-status element for "Loading…", "No data in this range" and errors (a 400 answers {"error": reason}).
 * canvas.dataset.state: "loading", then "drawn", "empty" or "error".
 */
(function () {
  "use strict";

  function describe(data) {
    const serie = data.series[0] || { name: "", values: [] };
    const shown = serie.values
      .map((value, index) => (value === null ? null : data.labels[index] + ": " + TfCharts.formatValue(value, data.unit)))
      .filter(Boolean);
    if (!shown.length) return data.title + ". " + TfCharts.EMPTY_TEXT + ".";
    const listed = shown.length > 12 ? shown.slice(-12) : shown;  // the latest twelve are enough to hear
    return data.title + ". " + (shown.length > 12 ? "Latest: " : "") + listed.join(", ") + ".";
  }

  async function load(canvas) {
    const status = canvas.parentElement.querySelector(".chart-status");
    canvas.dataset.state = "loading";
    if (status) status.textContent = "Loading…";  // written here: without JavaScript the <noscript> table shows instead
    try {
      const response = await fetch(canvas.dataset.src, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) {
        const body = await response.text();
        let reason = body;
        try { reason = JSON.parse(body).error || body; } catch (notJson) { /* a plain-text reason */ }
        reason = reason.slice(0, 200);
        throw new Error(response.status + (reason ? ": " + reason : ""));
      }
      const data = await response.json();
      canvas.setAttribute("aria-label", describe(data));
      if (typeof window.Chart !== "function") throw new Error("the chart library (Chart.js) did not load");
      const chart = TfCharts.draw(canvas, data);
      if (status) status.textContent = chart ? "" : TfCharts.EMPTY_TEXT;
      if (!chart) canvas.dataset.state = "empty";
    } catch (error) {
      canvas.dataset.state = "error";
      if (status) status.textContent = "Could not load this chart (" + error.message + ").";
    }
  }

  function start() {
    document.querySelectorAll("canvas[data-chart][data-src]").forEach(load);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
