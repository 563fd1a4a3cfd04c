"""perf_bench's verdicts: a missed statement budget fails the run; times gate only when asked."""

import json

import pytest
from django.core.management import CommandError

from apps.perflab import bench
from apps.perflab.bench import Report, Row, check_constant


def _report(*rows):
    return Report(scale="quick", rows=list(rows), seconds=1.0, dataset={"main": 10})


def test_verdicts_and_table(tmp_path):
    ok = Row("get_key_metrics (warm)", "50 members", 0, "0", True, median_ms=0.2)
    slow = Row("get_team_breakdown", "50 members", 2, "<= 2", True, median_ms=3.0, time_budget="<= 1.5x SQL",
               time_ok=False, floor_ratio=1.6)
    report = _report(ok, slow)
    assert report.statements_hold and not report.all_hold
    table = report.table()
    assert "get_team_breakdown" in table and table.splitlines()[-1].endswith("NO")
    report.write_json(tmp_path / "bench.json")
    stored = json.loads((tmp_path / "bench.json").read_text())
    assert stored["statements_hold"] is True and stored["rows"][1]["floor_ratio"] == 1.6


def test_constant_check_compares_sizes():
    rows = [Row("page", "50", 7, "constant", None), Row("page", "200", 8, "constant", None)]
    check_constant(rows, "page")
    assert [r.statements_ok for r in rows] == [False, False]
    rows[1].statements = 7
    check_constant(rows, "page")
    assert all(r.statements_ok for r in rows)


def test_the_command_exits_non_zero_on_a_missed_budget(monkeypatch, tmp_path):
    from django.core.management import call_command

    missed = Row("get_key_metrics (cold)", "50 members", 3, "<= 2", False)
    monkeypatch.setattr("apps.perflab.management.commands.perf_bench.run_bench", lambda **kw: _report(missed))
    monkeypatch.setattr("apps.perflab.management.commands.perf_bench.create_isolated_database", lambda name: "x")
    monkeypatch.setattr("apps.perflab.management.commands.perf_bench.drop_isolated_database", lambda name: None)
    with pytest.raises(CommandError, match="get_key_metrics"):
        call_command("perf_bench", "--quick", "--gate", "statements", "--output", str(tmp_path / "b.json"))
    assert bench.QUICK.members == 50 and bench.FULL.teams * bench.FULL.members * bench.FULL.prs_per_member == 1_000_000
