"""Charts return Figures with what they claim to show."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from apps.perflab import plots  # noqa: E402
from apps.perflab.explain import parse_plan  # noqa: E402

SERIES = pd.DataFrame(
    {
        "size": [10, 50, 200, 10, 50, 200],
        "variant": ["baseline"] * 3 + ["fix"] * 3,
        "statements": [41, 201, 801, 2, 2, 2],
        "median_ms": [30.0, 140.0, 560.0, 3.0, 3.4, 4.1],
    }
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_queries_vs_size_draws_one_line_per_variant():
    fig = plots.queries_vs_size(SERIES, title="Team breakdown")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == ["baseline", "fix"]
    assert list(ax.get_lines()[1].get_ydata()) == [2, 2, 2]
    assert ax.get_title(loc="left") == "Team breakdown"


def test_latency_vs_size_uses_log_axes():
    ax = plots.latency_vs_size(SERIES).axes[0]
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log"
    assert plots.latency_vs_size(SERIES, log=False).axes[0].get_yscale() == "linear"


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="statements"):
        plots.queries_vs_size(SERIES.drop(columns=["statements"]))


def test_before_after_bars():
    fig = plots.before_after_bars(["a", "b"], [10, 20], [1, 2], title="t", unit="ms")
    assert len(fig.axes[0].patches) == 4
    with pytest.raises(ValueError):
        plots.before_after_bars(["a"], [1, 2], [1], title="t", unit="ms")


def _plan(node, ms):
    return parse_plan({"Plan": node, "Planning Time": 0.1, "Execution Time": ms})


def test_plan_comparison_labels_each_plan():
    before = _plan({"Node Type": "Seq Scan", "Relation Name": "metrics_pullrequest", "Plan Rows": 5}, 12.5)
    after = _plan(
        {"Node Type": "Index Scan", "Relation Name": "metrics_pullrequest", "Index Name": "pr_idx", "Plan Rows": 5},
        0.5,
    )
    fig = plots.plan_comparison(before, after)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("Seq Scan on metrics_pullrequest" in t for t in texts)
    assert any("pr_idx" in t for t in texts)


def test_writer_timeline_draws_one_panel_per_run():
    from apps.perflab.index_builds import WriterRun

    run = WriterRun("x", 0.1, 0.2, ((0.0, 0.001), (0.15, 0.01)))
    timeline = plots.writer_timeline([run, run])
    assert len(timeline.axes) == 2 and "longest wait 10 ms" in timeline.axes[0].get_title(loc="left")
    assert [ax.get_ylabel() for ax in timeline.axes] == ["wait (ms)", "wait (ms)"]
    assert not timeline.axes[0].spines["top"].get_visible()  # styled as every lab chart


def test_the_latency_grid_draws_every_statement():
    series = pd.DataFrame(
        [
            {"size": size, "teams": size // 10, "statement": label, "variant": variant, "median_ms": ms, "min_ms": ms}
            for size in (10, 100)
            for label in ("a", "b", "c", "d", "e")
            for variant, ms in (("without", size / 10), ("with", 1.0))
        ]
    )
    grid = plots.latency_grid(series)
    assert [ax.get_title(loc="left") for ax in grid.axes if ax.get_visible()] == ["a", "b", "c", "d", "e"]


def test_lines_that_can_overlap_differ_in_colour_marker_or_dash():
    variants = ["baseline", "fix", "sql", "fix, cold", "fix, warm", "fix, unchanged"]
    frame = pd.DataFrame(
        {
            "size": [10, 50] * len(variants),
            "variant": [variant for variant in variants for _ in (0, 1)],
            "median_ms": [1.0, 2.0] * len(variants),
        }
    )
    lines = {line.get_label(): line for line in plots.latency_vs_size(frame).axes[0].get_lines()}

    def look(name):
        line = lines[name]
        return line.get_color(), line.get_marker(), line.get_linestyle()

    # notebook 01: the fix runs on its SQL floor; 02: the fix and the fix on unchanged data; 04/05: cold and warm
    for a, b in [("fix", "sql"), ("fix", "fix, unchanged"), ("fix, cold", "fix, warm"), ("baseline", "fix")]:
        assert look(a) != look(b), (a, b)
    assert lines["sql"].get_markerfacecolor() == "white"  # hollow over a solid line: the one beneath shows
