"""The notebook harness: an isolated, seeded database per notebook, dropped at the end; the report."""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from apps.perflab.report import build_report

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
from apps.perflab.notebook import setup_notebook
lab = setup_notebook("zz_harness_check", teams=1, members_per_team=4, prs_per_member=2, days=7)
from django.db import connection
from apps.metrics.models import PullRequest
print("NAME", connection.settings_dict["NAME"], PullRequest.objects.count())
lab.close()
lab.close()  # idempotent
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*) FROM pg_database WHERE datname = 'tformance_nb_zz_harness_check'")
    print("LEFT", cursor.fetchone()[0], connection.settings_dict["NAME"])
"""


def test_setup_creates_seeds_and_close_drops_the_database():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tformance.settings"}
    command = [sys.executable, "-c", SCRIPT]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "database tformance_nb_zz_harness_check ready: 1 Team, 4 TeamMember, 8 PullRequest, "
        + lines[0].split("8 PullRequest, ")[1]
    )
    assert "NAME tformance_nb_zz_harness_check 8" in lines
    assert "dropped tformance_nb_zz_harness_check" in lines
    assert lines[-1].startswith("LEFT 0 ")  # gone, and the connection points back where it was
    assert not lines[-1].endswith("zz_harness_check")
    assert result.stderr == ""  # nbval compares stderr: set-up must be silent there


def test_bad_notebook_names_are_refused():
    from apps.perflab.notebook import _database_name

    assert _database_name("01_Team") == "tformance_nb_01_team"
    for bad in ["", "a-b", "x" * 41, "drop;table"]:
        try:
            _database_name(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")


PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def test_report_links_one_page_per_notebook(tmp_path):
    notebooks, out = tmp_path / "notebooks", tmp_path / "reports"
    notebooks.mkdir()
    chart = new_code_cell("plot()", outputs=[new_output("display_data", data={"image/png": PNG, "text/plain": "fig"})])
    nb = new_notebook(cells=[new_markdown_cell("# 01 · Team breakdown\n\nFour statements per **member**."), chart])
    nbformat.write(nb, notebooks / "01_team_breakdown.ipynb")
    nbformat.write(new_notebook(cells=[new_code_cell("1")]), notebooks / "scratch.ipynb")  # not numbered: skipped
    index = build_report(notebooks_dir=notebooks, out_dir=out, execute=False, log=lambda line: None)
    page = index.read_text()
    assert '<a href="01_team_breakdown.html">01 · Team breakdown</a>' in page
    assert "Four statements per <b>member</b>." in page
    assert f"data:image/png;base64,{PNG}" in page
    assert (out / "01_team_breakdown.html").exists() and not (out / "scratch.html").exists()


def test_report_executes_notebooks(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nbformat.write(new_notebook(cells=[new_code_cell("print(6 * 7)")]), notebooks / "02_answer.ipynb")
    build_report(notebooks_dir=notebooks, out_dir=tmp_path / "out", log=lambda line: None)
    executed = nbformat.read(tmp_path / "out" / "notebooks" / "02_answer.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "42\n"
    assert nbformat.read(notebooks / "02_answer.ipynb", as_version=4).cells[0].outputs == []  # the source untouched
    assert "42" in (tmp_path / "out" / "02_answer.html").read_text()


def test_report_lists_every_budget_from_bench_json(tmp_path):
    import json

    notebooks, out = tmp_path / "notebooks", tmp_path / "reports"
    notebooks.mkdir()
    out.mkdir()
    row = {"path": "get_team_breakdown", "size": "50 members", "statements": 2, "statement_budget": "<= 2",
           "statements_ok": True, "baseline_statements": 186, "median_ms": 3.01, "time_budget": "<= 1.5x SQL",
           "time_ok": True, "speedup": 52.9, "floor_ratio": 1.4}
    (out / "bench.json").write_text(json.dumps({"scale": "quick", "seconds": 21.0, "all_hold": True, "rows": [row]}))
    page = build_report(notebooks_dir=notebooks, out_dir=out, execute=False, log=lambda line: None).read_text()
    assert "every budget holds" in page
    assert "<td>get_team_breakdown</td><td>50 members</td><td>2</td><td>&lt;= 2</td><td>186</td>" in page
