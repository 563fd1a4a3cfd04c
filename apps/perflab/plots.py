"""Charts for the lab, in one consistent style. Each function returns a matplotlib Figure.

Series come from ``apps.perflab.series`` as a DataFrame with the columns ``size``,
``variant`` (say "baseline" and "fix"), ``statements`` and ``median_ms`` (``p95_ms``
optional). Notebooks end a plotting cell with ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from apps.perflab.explain import Plan

if TYPE_CHECKING:
    from apps.perflab.index_builds import WriterRun

VARIANT_COLOURS = {"baseline": "#cf222e", "fix": "#1a7f37", "sql": "#0969da", "floor": "#0969da"}
_PALETTE = ["#8250df", "#bf8700", "#57606a", "#1b7c83"]
_STYLE = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titleweight": "bold",
    "axes.titlesize": 12,
    "axes.labelsize": 10,
    "legend.frameon": False,
    "figure.dpi": 100,
}


_FIX_SHADES = {"cold": "#1a7f37", "warm": "#4ac26b", "unchanged": "#4ac26b"}
# Lines that can lie on top of each other (the fix on its SQL floor, a warm fix on a cold one) differ in marker
# and dash as well as colour, so the one beneath still shows.
VARIANT_STROKES = {"baseline": ("o", "-"), "fix": ("o", "-"), "sql": ("s", "--"), "floor": ("s", "--")}
_FIX_STROKES = {"cold": ("o", "-"), "warm": ("D", "--"), "unchanged": ("D", "--")}
_STROKES = [("^", "-."), ("v", ":"), ("P", "--"), ("X", "-.")]


def _colour(variant: str, index: int) -> str:
    if variant in VARIANT_COLOURS:
        return VARIANT_COLOURS[variant]
    if variant.startswith("fix"):  # "fix, cold" / "fix, warm": shades of the fix's green
        return _FIX_SHADES.get(variant.rsplit(" ", 1)[-1], VARIANT_COLOURS["fix"])
    return _PALETTE[index % len(_PALETTE)]


def _stroke(variant: str, index: int) -> dict:
    """The marker and dash of a variant's line; a hollow marker for a dashed line, so a solid one under it shows."""
    if variant in VARIANT_STROKES:
        marker, dash = VARIANT_STROKES[variant]
    elif variant.startswith("fix"):
        marker, dash = _FIX_STROKES.get(variant.rsplit(" ", 1)[-1], VARIANT_STROKES["fix"])
    else:
        marker, dash = _STROKES[index % len(_STROKES)]
    hollow = {"markerfacecolor": "white", "markeredgewidth": 1.6} if dash != "-" else {}
    return {"marker": marker, "linestyle": dash, **hollow}


def _axes(title: str, xlabel: str, ylabel: str, size=(6.4, 3.8)):
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=size, layout="constrained")
        _style_axes(ax, title, xlabel, ylabel)
    return fig, ax


def _style_axes(ax, title: str, xlabel: str = "", ylabel: str = "", *, label_size=None, **title_style) -> None:
    """The lab's look for one panel: title on the left, light grid, no top or right spine.

    ``title_style`` (say ``fontsize``) and ``label_size`` suit the small panels of a grid of charts.
    """
    label_style = {"fontsize": label_size} if label_size else {}
    ax.set_title(title, loc="left", **title_style)
    ax.set_xlabel(xlabel, **label_style)
    ax.set_ylabel(ylabel, **label_style)
    ax.grid(True, alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _check_columns(df: pd.DataFrame, needed: Sequence[str]) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"the series lacks column(s) {missing}; it has {list(df.columns)}")


def _plot_variants(ax, df: pd.DataFrame, column: str) -> None:
    for i, (variant, rows) in enumerate(df.groupby("variant", sort=False)):
        rows = rows.sort_values("size")
        ax.plot(rows["size"], rows[column], linewidth=2, color=_colour(str(variant), i), label=variant,
                **_stroke(str(variant), i))
        last = rows.iloc[-1]
        ax.annotate(
            f"{last[column]:,.0f}" if column == "statements" else f"{last[column]:,.1f}",
            (last["size"], last[column]),
            textcoords="offset points",
            xytext=(6, 0),
            va="center",
            fontsize=9,
            color=_colour(str(variant), i),
        )
    ax.legend()


def queries_vs_size(df: pd.DataFrame, *, size_label: str = "members", title: str = "Statements per call") -> Figure:
    """Statement count against size, one line per variant: flat is fixed, rising is N+1."""
    _check_columns(df, ["size", "variant", "statements"])
    fig, ax = _axes(title, size_label, "SQL statements")
    _plot_variants(ax, df, "statements")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


def latency_vs_size(
    df: pd.DataFrame, *, size_label: str = "members", title: str = "Latency (median)", log: bool = True
) -> Figure:
    """Median latency against size; log axes so that a constant and a linear cost both read clearly."""
    _check_columns(df, ["size", "variant", "median_ms"])
    fig, ax = _axes(title, size_label, "milliseconds")
    _plot_variants(ax, df, "median_ms")
    if log:
        ax.set_yscale("log")
        if df["size"].max() / max(df["size"].min(), 1) >= 10:
            ax.set_xscale("log")
            ax.set_xticks(sorted(df["size"].unique()))  # label the measured sizes, not powers of ten
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    return fig


def before_after_bars(
    labels: Sequence[str],
    before: Sequence[float],
    after: Sequence[float],
    *,
    title: str,
    unit: str,
    names: tuple[str, str] = ("baseline", "fix"),
    log: bool = False,
) -> Figure:
    """Paired horizontal bars: one pair per label (a path, a problem)."""
    if not (len(labels) == len(before) == len(after)):
        raise ValueError("labels, before and after must have the same length")
    fig, ax = _axes(title, unit, "", size=(6.4, 0.55 * len(labels) + 1.4))
    positions = range(len(labels))
    height = 0.38
    ax.barh([p - height / 2 for p in positions], before, height, color=_colour(names[0], 0), label=names[0])
    ax.barh([p + height / 2 for p in positions], after, height, color=_colour(names[1], 1), label=names[1])
    ax.set_yticks(list(positions), labels)
    ax.invert_yaxis()
    ax.grid(True, axis="x", alpha=0.3)
    ax.grid(False, axis="y")
    if log:
        ax.set_xscale("log")
    ax.legend(loc="lower right")
    return fig


def plan_comparison(before: Plan, after: Plan, *, title: str = "Query plan, before and after") -> Figure:
    """Execution time of two plans side by side, each labelled with its plan's top nodes."""
    times = [before.execution_time_ms or 0.0, after.execution_time_ms or 0.0]
    fig, ax = _axes(title, "execution time (ms)", "", size=(7.2, 2.8))
    colours = [_colour("baseline", 0), _colour("fix", 1)]
    ax.barh([0, 1], times, 0.5, color=colours)
    ax.set_yticks([0, 1], ["before", "after"])
    ax.invert_yaxis()
    ax.grid(False, axis="y")
    for y, (plan, value) in enumerate(zip((before, after), times, strict=True)):
        first_lines = " / ".join(line.strip() for line in plan.summary().splitlines()[:2])
        ax.annotate(
            f"{value:,.2f} ms  {first_lines}",
            (value, y),
            textcoords="offset points",
            xytext=(6, 0),
            va="center",
            fontsize=8,
        )
    ax.set_xlim(0, max(times) * 2.2 if max(times) else 1)
    return fig


def statements_before_after(
    df: pd.DataFrame, *, title: str = "Statements per call: baseline against the fix"
) -> Figure:
    """``before_after_bars`` of statements from a ``path, size, baseline, fix`` frame
    (``bench.statements_vs_baseline``), on a log axis (a zero is drawn as 0.8, or it would vanish)."""
    _check_columns(df, ["path", "size", "baseline", "fix"])
    return before_after_bars(
        [f"{path} ({size})" for path, size in zip(df["path"], df["size"], strict=True)],
        [float(value) for value in df["baseline"]],
        [max(float(value), 0.8) for value in df["fix"]],
        title=title,
        unit="SQL statements (log scale)",
        log=True,
    )


def latency_grid(series: pd.DataFrame, *, title: str = "Latency against table size (median)") -> Figure:
    """One panel per statement of ``series.growth_series``, log-log, one y scale for all: without the indexes
    (red) and with them (green)."""
    labels = list(dict.fromkeys(series["statement"]))
    columns = min(4, len(labels))
    rows = -(-len(labels) // columns)
    colours = {"without": "#cf222e", "with": "#1a7f37"}
    fig, axes = plt.subplots(
        rows, columns, figsize=(3.0 * columns, 2.4 * rows + 0.7), layout="constrained", squeeze=False,
        sharex=True, sharey=True,
    )
    sizes = sorted(series["size"].unique())
    for ax, label in zip(axes.flat, labels, strict=False):
        for variant, colour in colours.items():
            points = series[(series.statement == label) & (series.variant == variant)].sort_values("size")
            ax.plot(points["size"], points["median_ms"], marker="o", color=colour, label=variant, linewidth=1.8)
        _style_axes(ax, label, fontsize=10, fontweight="bold")
    first = axes.flat[0]
    first.set_xscale("log")
    first.set_yscale("log")
    first.set_xticks(sizes)
    first.xaxis.set_minor_formatter(NullFormatter())
    first.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:,.0f}k"))
    first.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 3.0)))
    first.yaxis.set_minor_formatter(NullFormatter())
    first.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    for ax in axes.flat:
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(labels):]:
        ax.set_visible(False)
    first.legend(frameon=False, fontsize=8, loc="upper left")
    fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
    fig.supxlabel("pull requests in the table", fontsize=9)
    fig.supylabel("milliseconds", fontsize=9)
    return fig


def writer_timeline(
    runs: Sequence[WriterRun], *, title: str = "Each insert's wait while an index is built"
) -> Figure:
    """One panel per ``index_builds.WriterRun``: every insert's wait against when it started, the build shaded."""
    fig, axes = plt.subplots(len(runs), 1, figsize=(7.2, 1.9 * len(runs) + 0.5), layout="constrained",
                             squeeze=False)
    for ax, run in zip(axes[:, 0], runs, strict=True):
        starts = [at for at, _ in run.inserts]
        waits = [max(wait * 1000, 0.01) for _, wait in run.inserts]
        ax.axvspan(run.build_started, run.build_finished, color="#bf8700", alpha=0.15, label="index build")
        ax.scatter(starts, waits, s=4, color="#0969da", label="insert")
        ax.set_yscale("log")
        _style_axes(
            ax, f"{run.label}: longest wait {run.longest_wait_ms:,.0f} ms", ylabel="wait (ms)", label_size=9,
            fontsize=10,
        )
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axes[-1, 0].set_xlabel("seconds since the writer started")
    axes[-1, 0].legend(frameon=False, fontsize=8, loc="upper center", ncols=2)
    fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
    return fig
