/*
 * tformance charts: small canvas line and bar charts, written for this app (no third-party code).
 *
 *   const chart = TfCharts.line(canvas, data, options);   // or TfCharts.bar(...)
 *   chart.update(newData); chart.destroy();
 *
 * data:    {labels: [...], series: [{name, values: [number | null, ...]}], unit: "hours" | "%" | ...}
 * options: {max: fixed top of the value axis, title: drawn above the plot (else only the legend),
 *           formatLabel(label, index) -> axis text, formatTooltipTitle(label, index) -> text,
 *           sublabels: a second, smaller line under each axis label,
 *           tooltipExtra(index) -> [lines], colors: [...], emptyText}
 *
 * The canvas fills its parent element (give the parent a height). Drawing is devicePixelRatio-aware
 * and repeats when the parent is resized. Null values leave gaps in lines. A chart with nothing
 * to show says so ("No data in this range"). After each draw, canvas.dataset.state is "drawn"
 * or "empty". Hovering (or touching) a column shows its values.
 */
(function (global) {
  "use strict";

  const PALETTE = ["#0969da", "#8250df", "#1a7f37", "#bf8700", "#cf222e"];
  const FONT_FAMILY = 'system-ui, -apple-system, "Segoe UI", sans-serif';
  const COLORS = { axis: "#8c959f", grid: "#eaeef2", text: "#57606a", ink: "#1f2328", hover: "rgba(175,184,193,0.18)" };
  const EMPTY_TEXT = "No data in this range";
  const UNIT_SUFFIX = { hours: " h", "%": "%" };

  function font(size, weight) {
    return (weight || "400") + " " + size + "px " + FONT_FAMILY;
  }

  function isNumber(value) {
    return typeof value === "number" && Number.isFinite(value);
  }

  // The step of 1, 2, 2.5 or 5 times a power of ten closest above a raw step.
  function niceStep(raw) {
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const fraction = raw / power;
    const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10;
    return nice * power;
  }

  function decimalsOf(step) {
    for (let digits = 0; digits < 4; digits += 1) {
      const scaled = step * Math.pow(10, digits);
      if (Math.abs(scaled - Math.round(scaled)) < 1e-6) return digits;
    }
    return 4;
  }

  // Value axis from 0: ticks at nice steps up to the first tick at or above the largest value.
  function valueScale(largest, fixedMax, wantedTicks) {
    let top = isNumber(fixedMax) ? fixedMax : largest;
    if (!(top > 0)) top = 1;
    const step = niceStep(top / wantedTicks);
    if (!isNumber(fixedMax)) top = Math.ceil(top / step - 1e-9) * step;
    const ticks = [];
    for (let index = 0; index * step <= top + step * 1e-6; index += 1) ticks.push(index * step);
    return { top: top, ticks: ticks, decimals: decimalsOf(step) };
  }

  function formatNumber(value, decimals) {
    return value.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
  }

  function formatValue(value, unit) {
    if (!isNumber(value)) return "—";
    const decimals = Number.isInteger(value) ? 0 : 2;
    return formatNumber(value, decimals) + (UNIT_SUFFIX[unit] || "");  // counts go bare: "PRs merged: 3"
  }

  function roundedRect(ctx, x, y, width, height, radius) {
    const r = Math.max(0, Math.min(radius, width / 2, height / 2));
    ctx.beginPath();
    ctx.moveTo(x + r, y);
    ctx.lineTo(x + width - r, y);
    ctx.quadraticCurveTo(x + width, y, x + width, y + r);
    ctx.lineTo(x + width, y + height - r);
    ctx.quadraticCurveTo(x + width, y + height, x + width - r, y + height);
    ctx.lineTo(x + r, y + height);
    ctx.quadraticCurveTo(x, y + height, x, y + height - r);
    ctx.lineTo(x, y + r);
    ctx.quadraticCurveTo(x, y, x + r, y);
    ctx.closePath();
  }

  class Chart {
    constructor(kind, canvas, data, options) {
      this.kind = kind;
      this.canvas = canvas;
      this.options = options || {};
      this.hoverIndex = null;
      this.size = { width: 0, height: 0, ratio: 0 };
      this.frame = null;
      this.data = data;
      this.onPointerMove = (event) => this.pointerAt(event);
      this.onPointerLeave = () => this.setHover(null);
      this.onWindowResize = () => this.schedule();
      canvas.addEventListener("pointermove", this.onPointerMove);
      canvas.addEventListener("pointerdown", this.onPointerMove);
      canvas.addEventListener("pointerleave", this.onPointerLeave);
      global.addEventListener("resize", this.onWindowResize);  // also catches zoom (devicePixelRatio)
      if (typeof global.ResizeObserver === "function") {
        this.observer = new global.ResizeObserver(() => this.schedule());
        this.observer.observe(canvas.parentElement || canvas);
      }
      this.draw();
    }

    update(data) {
      this.data = data;
      this.hoverIndex = null;
      this.draw();
    }

    destroy() {
      if (this.observer) this.observer.disconnect();
      global.removeEventListener("resize", this.onWindowResize);
      this.canvas.removeEventListener("pointermove", this.onPointerMove);
      this.canvas.removeEventListener("pointerdown", this.onPointerMove);
      this.canvas.removeEventListener("pointerleave", this.onPointerLeave);
      if (this.frame) global.cancelAnimationFrame(this.frame);
    }

    schedule() {
      if (this.frame) return;
      this.frame = global.requestAnimationFrame(() => {
        this.frame = null;
        this.draw();
      });
    }

    get labels() {
      return (this.data && this.data.labels) || [];
    }

    get series() {
      return (this.data && this.data.series) || [];
    }

    isEmpty() {
      const values = this.series.flatMap((serie) => serie.values || []);
      if (this.kind === "bar") return !values.some((value) => isNumber(value) && value !== 0);
      return !values.some(isNumber);
    }

    color(index) {
      const colors = this.options.colors || PALETTE;
      return colors[index % colors.length];
    }

    // Size the backing store to the parent's CSS box times devicePixelRatio; true when it changed.
    fit() {
      const box = this.canvas.parentElement || this.canvas;
      const width = Math.max(1, Math.floor(box.clientWidth));
      const height = Math.max(1, Math.floor(box.clientHeight || this.options.height || 240));
      const ratio = global.devicePixelRatio || 1;
      const changed = width !== this.size.width || height !== this.size.height || ratio !== this.size.ratio;
      if (changed) {
        this.canvas.style.width = width + "px";
        this.canvas.style.height = height + "px";
        this.canvas.width = Math.round(width * ratio);
        this.canvas.height = Math.round(height * ratio);
        this.size = { width: width, height: height, ratio: ratio };
      }
      const ctx = this.canvas.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, width, height);
      return ctx;
    }

    draw() {
      const ctx = this.fit();
      const { width, height } = this.size;
      if (this.isEmpty()) {
        this.layout = null;
        ctx.fillStyle = COLORS.text;
        ctx.font = font(14);
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        ctx.fillText(this.options.emptyText || EMPTY_TEXT, width / 2, height / 2);
        this.canvas.dataset.state = "empty";
        return;
      }
      const layout = this.computeLayout(ctx, width, height);
      this.layout = layout;
      this.drawHeader(ctx, layout);
      this.drawValueAxis(ctx, layout);
      if (this.hoverIndex !== null) {
        ctx.fillStyle = COLORS.hover;
        ctx.fillRect(layout.xAt(this.hoverIndex) - layout.slot / 2, layout.top, layout.slot, layout.bottom - layout.top);
      }
      this.drawLabelAxis(ctx, layout);
      if (this.kind === "bar") this.drawBars(ctx, layout);
      else this.drawLines(ctx, layout);
      if (this.hoverIndex !== null) this.drawTooltip(ctx, layout, this.hoverIndex);
      this.canvas.dataset.state = "drawn";
    }

    computeLayout(ctx, width, height) {
      const unit = this.data.unit;
      const values = this.series.flatMap((serie) => serie.values || []).filter(isNumber);
      const compact = width < 420;
      const scale = valueScale(Math.max(0, ...values), this.options.max, compact ? 4 : 5);
      ctx.font = font(11);
      const tickTexts = scale.ticks.map((tick) => formatNumber(tick, scale.decimals) + (UNIT_SUFFIX[unit] || ""));
      const axisWidth = Math.max(...tickTexts.map((text) => ctx.measureText(text).width));
      const sublabels = this.options.sublabels && !compact ? this.options.sublabels : null;
      const top = this.options.title ? 46 : 30;
      const left = Math.ceil(axisWidth) + 14;
      const right = width - 12;
      const bottom = height - (sublabels ? 38 : 24);
      const count = Math.max(1, this.labels.length);
      const slot = (right - left) / count;
      return {
        width: width,
        height: height,
        top: top,
        left: left,
        right: right,
        bottom: bottom,
        slot: slot,
        scale: scale,
        tickTexts: tickTexts,
        sublabels: sublabels,
        xAt: (index) => left + slot * (index + 0.5),
        yAt: (value) => bottom - (Math.min(value, scale.top) / scale.top) * (bottom - top),
      };
    }

    drawHeader(ctx, layout) {
      let y = 12;
      ctx.textBaseline = "middle";
      ctx.textAlign = "left";
      if (this.options.title) {
        ctx.fillStyle = COLORS.ink;
        ctx.font = font(13, "600");
        ctx.fillText(this.options.title, 0, y);
        y += 20;
      }
      // Legend: a swatch and the name of every series, in one row from the left.
      ctx.font = font(12);
      let x = layout.left;
      this.series.forEach((serie, index) => {
        ctx.fillStyle = this.color(index);
        if (this.kind === "bar") {
          roundedRect(ctx, x, y - 5, 10, 10, 2);
          ctx.fill();
        } else {
          ctx.fillRect(x, y - 1.5, 14, 3);
        }
        x += this.kind === "bar" ? 15 : 19;
        ctx.fillStyle = COLORS.text;
        const name = String(serie.name);
        ctx.fillText(name, x, y);
        x += ctx.measureText(name).width + 16;
      });
    }

    drawValueAxis(ctx, layout) {
      ctx.font = font(11);
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      layout.scale.ticks.forEach((tick, index) => {
        const y = Math.round(layout.yAt(tick)) + 0.5;
        ctx.strokeStyle = index === 0 ? COLORS.axis : COLORS.grid;
        ctx.lineWidth = 1;
        ctx.beginPath();
        ctx.moveTo(layout.left, y);
        ctx.lineTo(layout.right, y);
        ctx.stroke();
        ctx.fillStyle = COLORS.text;
        ctx.fillText(layout.tickTexts[index], layout.left - 6, y);
      });
    }

    drawLabelAxis(ctx, layout) {
      const labels = this.labels;
      const format = this.options.formatLabel || ((label) => String(label));
      const texts = labels.map((label, index) => format(label, index));
      ctx.font = font(11);
      const widest = Math.max(0, ...texts.map((text) => ctx.measureText(text).width));
      // Show every n-th label so that neighbours never overlap; the last one is always kept visible.
      const every = Math.max(1, Math.ceil((widest + 10) / layout.slot));
      ctx.textAlign = "center";
      ctx.textBaseline = "top";
      texts.forEach((text, index) => {
        if ((texts.length - 1 - index) % every !== 0) return;
        const x = layout.xAt(index);
        ctx.strokeStyle = COLORS.axis;
        ctx.beginPath();
        ctx.moveTo(Math.round(x) + 0.5, layout.bottom);
        ctx.lineTo(Math.round(x) + 0.5, layout.bottom + 4);
        ctx.stroke();
        const half = ctx.measureText(text).width / 2;
        const clamped = Math.min(Math.max(x, half + 1), layout.width - half - 1);  // stay on the canvas
        ctx.fillStyle = COLORS.text;
        ctx.font = font(11);
        ctx.fillText(text, clamped, layout.bottom + 6);
        if (layout.sublabels && layout.sublabels[index] !== undefined) {
          ctx.font = font(10);
          ctx.fillStyle = COLORS.axis;
          ctx.fillText(layout.sublabels[index], x, layout.bottom + 21);
        }
      });
    }

    drawLines(ctx, layout) {
      const count = this.labels.length;
      this.series.forEach((serie, seriesIndex) => {
        const values = serie.values || [];
        const color = this.color(seriesIndex);
        // Contiguous runs of values: a null (nothing that week) breaks the line.
        const runs = [];
        let run = [];
        values.forEach((value, index) => {
          if (isNumber(value)) run.push([layout.xAt(index), layout.yAt(value)]);
          else if (run.length) {
            runs.push(run);
            run = [];
          }
        });
        if (run.length) runs.push(run);
        runs.forEach((points) => {
          if (this.series.length === 1 && points.length > 1) {
            ctx.beginPath();
            ctx.moveTo(points[0][0], layout.bottom);
            points.forEach(([x, y]) => ctx.lineTo(x, y));
            ctx.lineTo(points[points.length - 1][0], layout.bottom);
            ctx.closePath();
            ctx.globalAlpha = 0.08;
            ctx.fillStyle = color;
            ctx.fill();
            ctx.globalAlpha = 1;
          }
          ctx.beginPath();
          points.forEach(([x, y], index) => (index === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y)));
          ctx.strokeStyle = color;
          ctx.lineWidth = 2;
          ctx.lineJoin = "round";
          ctx.lineCap = "round";
          ctx.stroke();
          // Dots when there is room, and always for a lone point (a line of one point is invisible).
          if (count <= 40 || points.length === 1) {
            points.forEach(([x, y]) => {
              ctx.beginPath();
              ctx.arc(x, y, points.length === 1 ? 3.5 : 2.5, 0, Math.PI * 2);
              ctx.fillStyle = "#fff";
              ctx.fill();
              ctx.lineWidth = 2;
              ctx.stroke();
            });
          }
        });
        if (this.hoverIndex !== null && isNumber(values[this.hoverIndex])) {
          ctx.beginPath();
          ctx.arc(layout.xAt(this.hoverIndex), layout.yAt(values[this.hoverIndex]), 4.5, 0, Math.PI * 2);
          ctx.fillStyle = color;
          ctx.fill();
        }
      });
    }

    drawBars(ctx, layout) {
      const seriesCount = Math.max(1, this.series.length);
      const group = Math.min(layout.slot * 0.7, 90);
      const barWidth = group / seriesCount;
      ctx.textAlign = "center";
      ctx.textBaseline = "bottom";
      ctx.font = font(11, "600");
      this.series.forEach((serie, seriesIndex) => {
        (serie.values || []).forEach((value, index) => {
          if (!isNumber(value)) return;
          const x = layout.xAt(index) - group / 2 + barWidth * seriesIndex;
          const y = layout.yAt(value);
          const heightPx = layout.bottom - y;
          ctx.fillStyle = this.color(seriesIndex);
          if (heightPx > 0) {
            roundedRect(ctx, x + 1, y, barWidth - 2, heightPx, 3);
            ctx.fill();
          }
          if (barWidth >= 16) {
            ctx.fillStyle = COLORS.ink;
            ctx.fillText(formatValue(value), x + barWidth / 2, y - 3);
          }
        });
      });
    }

    drawTooltip(ctx, layout, index) {
      const formatTitle = this.options.formatTooltipTitle || this.options.formatLabel || ((label) => String(label));
      const lines = this.series.map((serie) => serie.name + ": " + formatValue((serie.values || [])[index], this.data.unit));
      if (this.options.tooltipExtra) lines.push(...this.options.tooltipExtra(index));
      const title = formatTitle(this.labels[index], index);
      ctx.font = font(12, "600");
      let boxWidth = ctx.measureText(title).width;
      ctx.font = font(12);
      lines.forEach((line) => (boxWidth = Math.max(boxWidth, ctx.measureText(line).width)));
      boxWidth += 16;
      const boxHeight = 12 + 17 * (lines.length + 1);
      const anchor = layout.xAt(index);
      let x = anchor + 12;
      if (x + boxWidth > layout.width - 2) x = anchor - 12 - boxWidth;
      x = Math.max(2, x);
      const y = layout.top;
      ctx.save();
      ctx.shadowColor = "rgba(31,35,40,0.15)";
      ctx.shadowBlur = 6;
      roundedRect(ctx, x, y, boxWidth, boxHeight, 6);
      ctx.fillStyle = "#fff";
      ctx.fill();
      ctx.restore();
      ctx.strokeStyle = "#d0d7de";
      ctx.lineWidth = 1;
      roundedRect(ctx, x + 0.5, y + 0.5, boxWidth - 1, boxHeight - 1, 6);
      ctx.stroke();
      ctx.textAlign = "left";
      ctx.textBaseline = "top";
      ctx.fillStyle = COLORS.ink;
      ctx.font = font(12, "600");
      ctx.fillText(title, x + 8, y + 7);
      ctx.font = font(12);
      ctx.fillStyle = COLORS.text;
      lines.forEach((line, lineIndex) => ctx.fillText(line, x + 8, y + 7 + 17 * (lineIndex + 1)));
    }

    pointerAt(event) {
      const layout = this.layout;
      if (!layout) return;
      const rect = this.canvas.getBoundingClientRect();
      const x = event.clientX - rect.left;
      const y = event.clientY - rect.top;
      if (x < layout.left || x > layout.right || y < 0 || y > layout.height) {
        this.setHover(null);
        return;
      }
      const index = Math.min(this.labels.length - 1, Math.max(0, Math.floor((x - layout.left) / layout.slot)));
      this.setHover(index);
    }

    setHover(index) {
      if (index === this.hoverIndex) return;
      this.hoverIndex = index;
      this.draw();
    }
  }

  global.TfCharts = {
    line: (canvas, data, options) => new Chart("line", canvas, data, options),
    bar: (canvas, data, options) => new Chart("bar", canvas, data, options),
    formatValue: formatValue,
    niceStep: niceStep,
    EMPTY_TEXT: EMPTY_TEXT,
  };
})(window);
