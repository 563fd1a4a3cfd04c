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


# --- the index at a glance: headline, highlighted misses, notebook links, machine, column definitions ---------


def _measured(path, **values):
    """A row with both budgets judged and held, baseline and fix figures (as perf_bench writes them)."""
    return _row(path, size="200 members", statements=2, statement_budget="<= 2", baseline_statements=401,
                median_ms=4.5, baseline_median_ms=90.0, time_budget="< 10 ms", time_ok=True, speedup=20.0) | values


def test_a_missed_budget_is_named_in_the_headline_and_highlighted_in_the_table():
    slow = _measured("get_key_metrics (cold)", median_ms=12.5, time_ok=False)
    many = _measured("get_team_breakdown", statements=3, statements_ok=False)
    held = _measured("aggregate_team_weekly_metrics")
    bench = _bench(slow, many, held)
    assert report.render_headline(bench) == (
        "<p class='glance missed'><b>2 budgets missed</b> (of 6): get_key_metrics (cold) at 200 members: time; "
        "get_team_breakdown at 200 members: statements.</p>"
    )
    table = report.render_budgets(bench)
    rows = re.findall(r"<tr[^>]*>.*?</tr>", table.split("<tbody>")[1])
    assert [row.startswith("<tr class='missed'>") for row in rows] == [True, True, False]
    # the missed figure and its budget are the highlighted cells, nothing else in the row
    assert re.findall(r"<td class='miss'>([^<]*)</td>", rows[0]) == ["12.50 ms", "&lt; 10 ms"]
    assert re.findall(r"<td class='miss'>([^<]*)</td>", rows[1]) == ["3", "&lt;= 2"]
    assert "class='miss'" not in rows[2]
    page = report.render_index([], bench)
    assert page.index("2 budgets missed") < page.index("<h2>Budgets</h2>")  # at the top
    assert re.search(r"td\.miss \{\{?[^}]*background: #", page) and re.search(r"\.glance\.missed \{[^}]*color: #", page)


def test_the_headline_says_all_budgets_met_and_counts_only_judged_ones():
    unjudged = _row("connections opened by N syncs", statements=None, statement_budget="", statements_ok=None)
    assert report.render_headline(_bench(_measured("get_team_breakdown"), unjudged)) == (
        "<p class='glance met'>All 2 budgets met.</p>"
    )
    assert "No benchmark yet" in report.render_headline(None)


def test_the_headline_escapes_what_it_names():
    odd = _measured("<script>", size="a & b", statements_ok=False)
    headline = report.render_headline(_bench(odd))
    assert "&lt;script&gt; at a &amp; b: statements" in headline and "<script>" not in headline


def test_each_budget_row_links_to_its_notebook_page_and_one_without_says_none():
    table = report.render_budgets(_bench(
        _measured("get_team_breakdown"), _measured("PR sync (initial)"), _row("connections opened by N syncs"),
    ))
    rows = re.findall(r"<tr>.*?</tr>", table.split("<tbody>")[1])
    assert rows[0].endswith('<td><a href="01_team_breakdown.html">01_team_breakdown</a></td></tr>')
    assert rows[1].endswith('<td><a href="10_pr_sync.html">10_pr_sync</a></td></tr>')
    assert rows[2].endswith("<td>none</td></tr>")


def test_every_mapped_notebook_exists_and_exports_to_the_page_the_table_links():
    for path, notebook in report.NOTEBOOK_OF_ROW.items():
        assert (report.NOTEBOOKS_DIR / notebook).exists(), (path, notebook)
        entry = report.describe(report.NOTEBOOKS_DIR / notebook, nbformat.v4.new_notebook())
        assert entry.html_name == report.notebook_page(notebook)


def test_each_notebook_shows_its_rows_baseline_and_fix_beside_its_chart(tmp_path):
    bench = _bench(_measured("get_key_metrics (cold)", size="50 members"),
                   _measured("get_key_metrics (warm)", statements=0, statement_budget="0", baseline_statements=None,
                             median_ms=0.25, baseline_median_ms=None, time_budget="", time_ok=None),
                   _measured("get_team_breakdown"))
    figures = report.render_before_after(bench, "04_cache.ipynb")
    cells = [re.findall(r"<td>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", figures.split("<tbody>")[1])]
    assert cells == [["401", "2", "90.00 ms", "4.50 ms"], ["–", "0", "–", "0.25 ms"]]  # baseline, fix; baseline, fix
    assert "get_key_metrics (cold)<br><span class='muted'>50 members</span>" in figures
    assert "get_team_breakdown" not in figures
    assert report.render_before_after(bench, "06_indexes.ipynb") == (
        "<p class='muted'>No perf_bench row measures this notebook's problem: its figures are in the notebook.</p>"
    )
    assert report.render_before_after(None, "04_cache.ipynb") == "<p class='muted'>No benchmark yet: no figures.</p>"

    entry = report.NotebookEntry(tmp_path / "04_cache.ipynb", "04 · Caching", "Redis.", PNG, "04_cache.html")
    page = report.render_index([entry], bench)
    section = page[page.index('<a href="04_cache.html">04 · Caching</a>'):]
    assert re.search(r"<div class='beside'><div class='chart'><img [^>]*base64,[^>]*></div>"
                     r"<div class='figures'><table class='before-after'>", section)


def test_the_machine_line_names_cores_postgresql_and_python(monkeypatch):
    monkeypatch.setattr(report.os, "cpu_count", lambda: 2)
    asked = report.machine_of(_bench(), server_version=lambda: "16.4")
    assert asked.cpu_cores == 2 and asked.postgresql == "16.4"
    recorded = report.machine_of(_bench() | {"server_version": "17.2"}, server_version=lambda: "16.4")
    assert recorded.postgresql == "17.2"  # what the bench ran on, not the server asked now
    assert report.machine_of(_bench() | {"cpu_count": 8}).cpu_cores == 8
    assert report.render_machine(report.Machine(2, "17.2 (Debian 17.2-1)", "3.12.3")) == (
        "<p class='machine'>Machine: 2 CPU cores · PostgreSQL 17.2 (Debian 17.2-1) · Python 3.12.3</p>"
    )
    assert report.render_machine(report.Machine(None, None, "3.12.3")) == (
        "<p class='machine'>Machine: CPU cores unknown · PostgreSQL version unknown · Python 3.12.3</p>"
    )
    page = report.render_index([], _bench(), machine=report.Machine(2, "17.2", "3.12.3"))
    assert page.index("Machine: 2 CPU cores") < page.index("<h2>Budgets</h2>")


def test_the_postgresql_version_comes_from_django_s_connection_when_there_is_one(db):
    from django.db import connection

    assert report.machine_of(None).postgresql == connection.cursor().connection.info.parameter_status(
        "server_version")


def test_the_column_definitions_list_every_column_the_table_shows():
    table = report.render_budgets(_bench(_measured("get_team_breakdown")))
    headers = re.findall(r"<th>([^<]*)</th>", table)
    defined = re.findall(r"<dt>([^<]*)</dt><dd>([^<]+)</dd>", table)
    assert headers == [name for name, _ in defined]
    assert {"statements", "budget", "median", "speed-up", "fix / SQL", "notebook"} <= set(headers)
    assert len(re.findall(r"<td[^>]*>", table.split("<tbody>")[1])) == len(headers)  # a cell under every header


def test_build_report_writes_the_headline_machine_and_figures_into_the_index(tmp_path, monkeypatch):
    folder = _notebooks(tmp_path, "01_team_breakdown.ipynb", "06_indexes.ipynb")
    out = tmp_path / "out"
    out.mkdir()
    bench = _bench(_measured("get_team_breakdown", statements=5, statements_ok=False)) | {"server_version": "17.2"}
    (out / "bench.json").write_text(json.dumps(bench))
    monkeypatch.setattr(report.os, "cpu_count", lambda: 4)
    page = build_report(notebooks_dir=folder, out_dir=out, execute=False, log=lambda line: None).read_text()
    assert "<b>1 budget missed</b> (of 2): get_team_breakdown at 200 members: statements." in page
    assert "Machine: 4 CPU cores · PostgreSQL 17.2 · Python " in page
    assert "<td>401</td><td>5</td><td>90.00 ms</td><td>4.50 ms</td>" in page
    assert page.count("No perf_bench row measures this notebook's problem") == 1  # 06_indexes
