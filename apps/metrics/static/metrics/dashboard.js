/*
 * The dashboard's charts: fetch each canvas's JSON endpoint (data-src) and draw it with TfCharts.
 * <canvas data-chart="line|bar" data-src="...json" [data-max="100"]>, followed by a .chart-status
 * element for "Loading…" and errors (a 400 answers {"error": reason}).
 */
(function () {
  "use strict";

  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  // "2026-03-02" -> "Mar 2", or "Mar 2 '26" when the chart spans years (labels are the weeks' Mondays, UTC).
  function shortDate(iso, withYear) {
    const parts = String(iso).split("-");
    if (parts.length !== 3) return String(iso);
    const day = MONTHS[Number(parts[1]) - 1] + " " + Number(parts[2]);
    return withYear ? day + " '" + parts[0].slice(2) : day;
  }

  function spansYears(labels) {
    return labels.length > 1 && String(labels[0]).slice(0, 4) !== String(labels[labels.length - 1]).slice(0, 4);
  }

  function plural(count, word) {
    return count + " " + word + (count === 1 ? "" : "s");
  }

  function optionsFor(canvas, data) {
    const options = {};
    if (canvas.dataset.max) options.max = Number(canvas.dataset.max);
    if (canvas.dataset.chart === "line") {
      const withYear = spansYears(data.labels);
      options.formatLabel = (label) => shortDate(label, withYear);
      options.formatTooltipTitle = (label) => "Week of " + shortDate(label, true);
      if (data.prs_merged) options.tooltipExtra = (index) => [plural(data.prs_merged[index], "PR") + " merged"];
      if (data.answered) options.tooltipExtra = (index) => [plural(data.answered[index], "answered survey")];
    } else if (data.descriptions) {
      options.sublabels = data.descriptions;
      options.formatTooltipTitle = (label, index) => label + " (" + data.descriptions[index] + ")";
    }
    return options;
  }

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
      if (status) status.textContent = "";
      const draw = canvas.dataset.chart === "bar" ? TfCharts.bar : TfCharts.line;
      canvas.setAttribute("aria-label", describe(data));
      draw(canvas, data, optionsFor(canvas, data));
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
