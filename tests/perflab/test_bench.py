"""perf_bench's verdicts: a missed statement budget fails the run; times gate only when asked."""

import json
import logging

import pytest
from django.core.management import CommandError, call_command

from apps.perflab import bench
from apps.perflab.bench import Report, Row, check_constant, quiet_loggers, settle


def _report(*rows):
    return Report(scale="quick", rows=list(rows), seconds=1.0, dataset={"main": 10})


def test_verdicts_and_table(tmp_path):
    ok = Row("get_key_metrics (warm)", "50 members", 0, "0", True, median_ms=0.2)
    slow = Row(
        "get_team_breakdown",
        "50 members",
        2,
        "<= 2",
        True,
        median_ms=3.0,
        time_budget="<= 1.5x SQL",
        time_ok=False,
        floor_ratio=1.6,
    )
    report = _report(ok, slow)
    assert report.statements_hold and not report.all_hold
    table = report.table()
    assert "get_team_breakdown" in table and table.splitlines()[-1].endswith("NO: time")
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


def _fake_bench(monkeypatch, *rows):
    command = "apps.perflab.management.commands.perf_bench"
    monkeypatch.setattr(f"{command}.run_bench", lambda **kw: _report(*rows))
    monkeypatch.setattr(f"{command}.create_isolated_database", lambda name: "x")
    monkeypatch.setattr(f"{command}.drop_isolated_database", lambda name: None)


def test_the_command_exits_non_zero_on_a_missed_budget(monkeypatch, tmp_path):
    _fake_bench(monkeypatch, Row("get_key_metrics (cold)", "50 members", 3, "<= 2", False))
    with pytest.raises(CommandError, match=r"get_key_metrics \(cold\) \(50 members\): 3 statements against <= 2"):
        call_command("perf_bench", "--quick", "--gate", "statements", "--output", str(tmp_path / "b.json"))
    assert bench.QUICK.members == 50 and bench.FULL.teams * bench.FULL.members * bench.FULL.prs_per_member == 1_000_000


def _slow_page(*attempts):
    """The cold page, its time budget missed at every measurement in ``attempts``."""
    return Row(
        "dashboard page (cold cache)",
        "50 members",
        6,
        "constant",
        True,
        median_ms=attempts[-1],
        time_budget="< 50 ms",
        time_ok=attempts[-1] < 50,
        time_figure="median",
        time_unit="ms",
        time_attempts=list(attempts),
    )


TOO_MANY = Row("get_key_metrics (cold)", "50 members", 3, "<= 2", False)


def test_the_headline_names_every_missed_budget_and_whether_it_is_gated():
    report = _report(Row("get_key_metrics (warm)", "50 members", 0, "0", True), _slow_page(55.6, 53.0), TOO_MANY)
    verdict = report.verdict("statements")
    assert verdict.gated == ["get_key_metrics (cold) (50 members): 3 statements against <= 2"]
    assert verdict.reported == [
        "dashboard page (cold cache) (50 members): median missed twice: 55.6 ms then 53.0 ms against < 50 ms"
    ]
    assert not verdict.passes
    assert verdict.headline == (
        "1 budget missed, gated (statement budgets: the run fails); "
        "1 budget missed, reported only (times, on a shared machine)"
    )
    text = "\n".join(verdict.lines())
    assert "get_key_metrics (cold) (50 members)" in text and "55.6 ms then 53.0 ms" in text

    under_all = report.verdict("all")  # times gate too: both misses fail the run
    assert len(under_all.gated) == 2 and under_all.reported == [] and not under_all.passes


def test_a_missed_time_alone_fails_only_under_gate_all():
    report = _report(_slow_page(55.6, 53.0))
    assert report.verdict("statements").passes
    assert report.verdict("statements").headline.startswith("every gated budget holds (statement budgets); 1 budget")
    assert not report.verdict("all").passes
    assert _report(Row("get_key_metrics (warm)", "50 members", 0, "0", True)).verdict("all").headline == (
        "every budget holds"
    )


def test_the_command_names_a_reported_time_miss_and_exits_zero_under_gate_statements(monkeypatch, tmp_path, capsys):
    _fake_bench(monkeypatch, _slow_page(55.6, 53.0))
    output = tmp_path / "b.json"
    call_command("perf_bench", "--quick", "--gate", "statements", "--output", str(output))
    out = capsys.readouterr().out
    assert "every statement budget holds" not in out  # the old, misleading last line
    assert "missed, reported only (time budgets, measured on a shared machine; not gated):" in out
    assert "dashboard page (cold cache) (50 members): median missed twice: 55.6 ms then 53.0 ms against < 50 ms" in out
    stored = json.loads(output.read_text())
    assert stored["gate"] == "statements" and stored["missed"]["gated"] == []
    assert stored["rows"][0]["time_attempts"] == [55.6, 53.0]
    with pytest.raises(CommandError, match=r"dashboard page \(cold cache\)"):
        call_command("perf_bench", "--quick", "--gate", "all", "--output", str(output))


def test_a_time_budget_is_measured_again_only_when_it_misses():
    calls = []

    def again():
        calls.append(1)
        return _slow_page(48.0)

    held = _slow_page(30.0)
    assert settle(held, again) is held and calls == []  # held: measured once
    row = settle(_slow_page(55.6), again)
    assert calls == [1] and row.time_ok and row.time_attempts == [55.6, 48.0] and row.median_ms == 48.0
    verdict = _report(row).verdict("all")
    assert verdict.passes and verdict.held_again == [
        "dashboard page (cold cache) (50 members): median 55.6 ms then 48.0 ms against < 50 ms"
    ]
    missed = settle(_slow_page(55.6), lambda: _slow_page(53.0))
    assert not missed.time_ok and missed.time_attempts == [55.6, 53.0]


def test_an_older_bench_json_still_reads():
    old = {
        "scale": "quick",
        "seconds": 21.0,
        "all_hold": False,
        "rows": [
            {
                "path": "dashboard page (cold cache)",
                "size": "50 members",
                "statements": 6,
                "statement_budget": "constant",
                "statements_ok": True,
                "median_ms": 55.6,
                "time_budget": "< 50 ms",
                "time_ok": False,
            }
        ],
    }
    verdict = Report.from_dict(old).verdict("statements")
    assert verdict.passes and verdict.reported == [
        "dashboard page (cold cache) (50 members): time median 55.60 ms against < 50 ms"
    ]
    recorded = _report(_slow_page(55.6, 53.0), TOO_MANY)
    recorded.server_version, recorded.cpu_count = "15.20 (Debian 15.20-0+deb12u1)", 2
    round_trip = Report.from_dict(json.loads(json.dumps(recorded.as_dict())))
    assert (round_trip.server_version, round_trip.cpu_count) == ("15.20 (Debian 15.20-0+deb12u1)", 2)
    assert round_trip.verdict("statements").gated == [TOO_MANY.path + " (50 members): 3 statements against <= 2"]


def test_request_logs_are_quiet_during_the_bench_and_restored_after(caplog):
    requests = logging.getLogger("tformance.requests")
    caplog.set_level(logging.INFO, logger="tformance.requests")
    with quiet_loggers():
        requests.info("GET /t/bench/ 200 total=12.0ms")
        logging.getLogger("django.request").warning("Not Found: /nowhere")
        assert requests.level == logging.WARNING
    assert caplog.records == [] and requests.level == logging.INFO
    with pytest.raises(RuntimeError), quiet_loggers():
        raise RuntimeError("a failed measurement")
    requests.info("after the bench")
    assert [r.getMessage() for r in caplog.records] == ["after the bench"]


@pytest.mark.django_db
def test_pr_sync_rows_come_from_one_experiment_each():
    rows = bench.bench_pr_sync(40, 20)
    assert [row.path for row in rows] == ["PR sync (initial)", "PR sync (vs baseline)", "PR sync (unchanged)"]
    initial, versus, unchanged = rows
    assert initial.statements_ok and initial.extra["pull_requests"] == 40 and initial.extra["requests"] == 1
    assert versus.statements_ok and versus.baseline_statements > 20 * versus.statements
    assert versus.extra["same_rows"] is True and versus.extra["baseline_requests"] == 1 + 2 * 20
    assert unchanged.statements == 0 and unchanged.statements_ok and unchanged.extra["requests"] == 1
    assert bench.FULL.pr_sync_prs == 10_000 and bench.FULL.pr_sync_baseline_prs == 1_000


@pytest.mark.django_db
def test_the_ai_impact_and_copilot_rows_compare_with_their_baselines_on_the_benchmark_range():
    from apps.perflab.datagen import DatasetSpec, generate
    from apps.teams.models import Team

    spec = DatasetSpec(members_per_team=6, prs_per_member=8, days=60, seed=13, end_date=bench.END_DATE)
    team = Team.objects.get(pk=generate(spec, progress=False).team_ids[0])
    cold, warm = bench.bench_ai_impact(team, "6 members", repeat=2)
    assert (cold.path, cold.statements, cold.statements_ok) == ("AI impact (cold)", 1, True)
    assert cold.baseline_statements >= 1 and cold.speedup is not None
    assert (warm.path, warm.statements, warm.statements_ok) == ("AI impact (warm)", 0, True)
    cold, warm = bench.bench_copilot_adoption(team, "6 members", repeat=2)
    assert (cold.path, cold.statements, cold.statements_ok) == ("Copilot adoption (cold)", 2, True)
    assert cold.baseline_statements > 6 * 2  # a query per member and period at least
    assert (warm.path, warm.statements, warm.statements_ok) == ("Copilot adoption (warm)", 0, True)


def test_the_constant_check_can_also_hold_a_path_to_its_budget():
    rows = [Row("get_member_page", "26 weeks", 5, "<= 4", None), Row("get_member_page", "104 weeks", 5, "<= 4", None)]
    check_constant(rows, "get_member_page", most=4)
    assert [r.statements_ok for r in rows] == [False, False]  # constant, but over budget
    single = [Row("get_team_breakdown", "50 members", 3, "<= 2", True)]
    check_constant(single, "get_team_breakdown", most=2)  # one size only: constancy alone would pass it
    assert single[0].statements_ok is False


@pytest.mark.django_db
def test_the_member_page_rows_compare_the_service_with_the_baseline_and_count_the_page_at_two_sizes():
    from apps.teams.factories import MembershipFactory, UserFactory

    history = bench.seed_member_history(prefix="mp", members_per_team=4, prs_per_member=30, days=7 * 8, seed=3)
    assert history.weeks == 8 and history.members == 4
    user = UserFactory()
    MembershipFactory(user=user, team=history.team)
    rows = bench.bench_member_page(history, user, repeat=2, weeks=(2, 8))
    assert [(r.path, r.size) for r in rows] == [
        ("get_member_page", "2 weeks"),
        ("member page", "2 weeks"),
        ("get_member_page", "8 weeks"),
        ("member page", "8 weeks"),
    ]
    service = [r for r in rows if r.path == "get_member_page"]
    page = [r for r in rows if r.path == "member page"]
    assert [r.statements for r in service] == [4, 4] and all(r.statements_ok for r in service)
    assert [r.statements for r in page] == [7, 7] and all(r.statements_ok for r in page)  # + session, user, team
    assert page[0].extra["service_statements"] == 4
    # the same answer as the per-week loop (else DifferentAnswers), whose statements grow with the weeks
    assert service[0].baseline_statements > 2 * 6 and service[1].baseline_statements > 8 * 6
    assert service[1].baseline_statements - service[0].baseline_statements >= 6 * 6  # 6 more per week at least
    assert all(r.speedup and r.median_ms and r.baseline_median_ms for r in service)
    assert service[1].extra["weeks_with_rows"] == 8 and service[1].extra["recent_prs"] > 0
    assert all(r.time_ok is None and r.time_budget == "(reported)" for r in rows)  # budgeted at 104 weeks only
    assert bench.MEMBER_WEEKS == (26, 104) and bench.MEMBER_SPEC["days"] == 7 * 104
