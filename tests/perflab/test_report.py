"""make report: progress per notebook, a quiet run, and a headline that names every missed budget."""

import json
import logging
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from apps.perflab import report
from apps.perflab.report import build_report, export_html

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def _notebooks(tmp_path, *names):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in names:
        nbformat.write(new_notebook(cells=[new_markdown_cell(f"# {name}"), new_code_cell("1")]), folder / name)
    return folder


def test_each_notebook_is_logged_when_it_starts_and_with_its_time_when_done(tmp_path, monkeypatch):
    folder = _notebooks(tmp_path, "01_first.ipynb", "02_second.ipynb")
    ticks = iter([0.0, 10.0, 51.2, 60.0, 62.5, 70.0])  # start of all; each notebook's start and end; the total
    lines = []

    def execute(path, *, save_to):
        lines.append(f"(running {path.name})")
        return nbformat.read(path, as_version=4)

    monkeypatch.setattr(report, "execute_notebook", execute)
    build_report(notebooks_dir=folder, out_dir=tmp_path / "out", log=lines.append, clock=lambda: next(ticks))
    assert lines[:6] == [
        "[1/2] 01_first ...", "(running 01_first.ipynb)", "[1/2] 01_first ... 41.2 s",
        "[2/2] 02_second ...", "(running 02_second.ipynb)", "[2/2] 02_second ... 2.5 s",
    ]
    assert lines[6] == "2 notebooks executed in 70.0 s"
    assert "executed in 41.2 s" in (tmp_path / "out" / "index.html").read_text()


def test_a_failing_notebook_is_named_with_its_time(tmp_path, monkeypatch):
    folder = _notebooks(tmp_path, "06_indexes.ipynb")
    ticks = iter([0.0, 1.0, 361.0])
    lines = []

    def execute(path, *, save_to):
        raise RuntimeError("cell 12 failed")

    monkeypatch.setattr(report, "execute_notebook", execute)
    with pytest.raises(RuntimeError, match="cell 12"):
        build_report(notebooks_dir=folder, out_dir=tmp_path / "out", log=lines.append, clock=lambda: next(ticks))
    assert lines == ["[1/1] 06_indexes ...", "[1/1] 06_indexes ... failed after 360.0 s"]


def test_executing_a_notebook_is_quiet_and_leaves_no_socket_files(tmp_path, capfd, caplog):
    """No 'Kernel is running over TCP without encryption' (the kernel talks over IPC), no 'Alternative text
    is missing' (every image has one), nothing left beside the notebook."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    cells = [
        new_markdown_cell("# 00 · Tiny\n\nOne chart."),
        new_markdown_cell("## The chart"),
        new_code_cell(f"import base64\nfrom IPython.display import Image, display\n"
                      f"display(Image(data=base64.b64decode('{PNG}')))\nprint(6 * 7)"),
    ]
    nbformat.write(new_notebook(cells=cells), folder / "00_tiny.ipynb")
    caplog.set_level(logging.INFO)
    lines = []
    index = build_report(notebooks_dir=folder, out_dir=tmp_path / "out", log=lines.append)
    err = capfd.readouterr().err
    assert "without encryption" not in err and "Alternative text" not in err, err
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert sorted(p.name for p in folder.iterdir()) == ["00_tiny.ipynb"]
    assert re.fullmatch(r"\[1/1\] 00_tiny \.\.\. \d+\.\d s", lines[1]), lines
    executed = nbformat.read(tmp_path / "out" / "notebooks" / "00_tiny.ipynb", as_version=4)
    assert executed.cells[2].outputs[-1]["text"] == "42\n"
    assert "alt" not in json.dumps(executed.cells[2].outputs[0].get("metadata", {}))  # the copy saved untouched
    page = (tmp_path / "out" / "00_tiny.html").read_text()
    assert 'alt="Figure 1 of 00 · Tiny: The chart"' in page
    assert index.exists()


def test_every_image_gets_an_alt_text_and_an_existing_one_is_kept(tmp_path, caplog):
    own = new_output("display_data", data={"image/png": PNG}, metadata={"image/png": {"alt": 'Cycle "time" <chart>'}})
    plain = new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})
    nb = new_notebook(cells=[new_markdown_cell("# 01 · Team breakdown"), new_code_cell("plot()", outputs=[plain, own])])
    caplog.set_level(logging.INFO)
    export_html(nb, tmp_path / "page.html", title="01 · Team breakdown")
    assert "Alternative text" not in caplog.text
    page = (tmp_path / "page.html").read_text()
    assert 'alt="Figure 1 of 01 · Team breakdown"' in page
    assert 'alt=\'Cycle "time" &lt;chart&gt;\'' in page or 'alt="Cycle &quot;time&quot; &lt;chart&gt;"' in page
    assert "No description has been provided" not in page
    assert "alt" not in nb.cells[1].outputs[0].get("metadata", {}).get("image/png", {})  # the notebook untouched


def _bench(*rows, gate="statements"):
    return {"scale": "quick", "seconds": 95.0, "gate": gate, "all_hold": False, "rows": rows}


def _row(path, **values):
    return {"path": path, "size": "50 members", "statements": 6, "statement_budget": "constant",
            "statements_ok": True, "baseline_statements": None, "median_ms": None, "time_budget": "",
            "time_ok": None, "speedup": None, "floor_ratio": None} | values


def test_the_report_headline_names_every_missed_budget_gated_or_not():
    slow = _row("dashboard page (cold cache)", median_ms=53.0, time_budget="< 50 ms", time_ok=False,
                time_figure="median", time_unit="ms", time_attempts=[55.6, 53.0])
    many = _row("get_key_metrics (cold)", statements=3, statement_budget="<= 2", statements_ok=False)
    page = report.render_budgets(_bench(slow, many))
    assert "a budget is missed" not in page
    assert ("<b>1 budget missed, gated (statement budgets: the run fails); "
            "1 budget missed, reported only (times, on a shared machine)</b>") in page
    assert "--gate statements" in page
    assert ("Missed, gated by --gate statements (statement budgets; a miss fails the run):</p>"
            "<ul><li>get_key_metrics (cold) (50 members): 3 statements against &lt;= 2</li></ul>") in page
    assert ("Missed, reported only (time budgets, measured on a shared machine; not gated):</p><ul><li>dashboard "
            "page (cold cache) (50 members): median missed twice: 55.6 ms then 53.0 ms against &lt; 50 ms</li></ul>"
            ) in page
    assert "<td>NO: time</td>" in page and "<td>NO: statements</td>" in page


def test_the_report_headline_when_only_a_time_misses():
    slow = _row("dashboard page (cold cache)", median_ms=53.0, time_budget="< 50 ms", time_ok=False,
                time_figure="median", time_unit="ms", time_attempts=[55.6, 53.0])
    page = report.render_budgets(_bench(slow))
    assert "<b>every gated budget holds (statement budgets); 1 budget missed, reported only" in page
    assert "Missed, gated" not in page
