"""Each baseline really reproduces its problem: its statement (or request) count grows with N."""

import datetime as dt

import httpx
import pytest

from apps.metrics.factories import (
    CommitFactory,
    PRSurveyFactory,
    PRSurveyReviewFactory,
    PullRequestFactory,
    TeamMemberFactory,
)
from apps.metrics.models import AIUsageDaily, WeeklyMetrics
from apps.perflab import baselines
from apps.perflab.capture import capture_queries
from apps.perflab.github_stub import GitHubStub
from apps.teams.factories import TeamFactory

pytestmark = pytest.mark.django_db

START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 31)
MERGED_AT = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)


def _team_with_members(count, *, prs_each=2):
    team = TeamFactory()
    for member in TeamMemberFactory.create_batch(count, team=team):
        for _ in range(prs_each):
            pr = PullRequestFactory(
                team=team, author=member, pr_created_at=MERGED_AT - dt.timedelta(hours=30), merged_at=MERGED_AT
            )
            survey = PRSurveyFactory(pull_request=pr)
            PRSurveyReviewFactory(survey=survey, reviewer=TeamMemberFactory(team=team, is_active=False))
            CommitFactory(team=team, author=member, pull_request=pr, committed_at=MERGED_AT)
    return team


def _statements(fn, *args):
    with capture_queries() as capture:
        result = fn(*args)
    return capture, result


def test_team_breakdown_runs_four_statements_per_member():
    counts = {}
    for size in (3, 7):
        team = _team_with_members(size)
        capture, rows = _statements(baselines.get_team_breakdown, team, START, END)
        assert len(rows) == size  # the inactive reviewers merged nothing and are left out
        assert all(r["prs_merged"] == 2 for r in rows)
        counts[size] = capture.count
    # 1 for the members, then 4 per member; each inactive reviewer (one per PR) costs 1: its count
    assert counts[3] == 1 + 3 * 4 + 3 * 2
    assert counts[7] == 1 + 7 * 4 + 7 * 2
    assert capture.has_n_plus_one
    assert "apps/perflab/baselines.py" in capture.repeated()[0].call_site


def _copilot_records(logins, days):
    return [
        {
            "user_login": login,
            "day": day.isoformat(),
            "code_generation_activity_count": 10 + i,
            "code_acceptance_activity_count": 3,
            "loc_suggested_to_add_sum": 40,
            "loc_added_sum": 12,
            "user_initiated_interaction_count": 2,
        }
        for day in days
        for i, login in enumerate(logins)
    ]


def test_copilot_sync_looks_up_and_writes_per_user_per_day():
    counts = {}
    for users, days in ((3, 2), (6, 4)):
        team = TeamFactory()
        members = TeamMemberFactory.create_batch(users, team=team)
        day_list = [dt.date(2026, 3, 2) + dt.timedelta(days=d) for d in range(days)]
        # an upper-cased login still matches, an unknown one is reported
        logins = [m.github_username.upper() for m in members] + ["stranger"]
        days_data = baselines.group_records_by_day(_copilot_records(logins, day_list))
        capture, result = _statements(baselines.sync_copilot_days, team, days_data)
        assert result == {"rows_written": users * days, "unknown_logins": ["stranger"]}
        assert AIUsageDaily.objects.filter(team=team).count() == users * days
        counts[users * days] = capture.count
        gets = [g for g in capture.repeated() if "metrics_teammember" in g.fingerprint]
        assert gets and gets[0].count == (users + 1) * days  # one .get() per record
    assert counts[24] > 3 * counts[6]


def test_pr_export_loads_each_author_lazily():
    counts = {}
    for size in (4, 12):
        team = TeamFactory()
        author = TeamMemberFactory(team=team, display_name="=HYPERLINK(1)")
        PullRequestFactory.create_batch(size, team=team, author=author)
        PullRequestFactory(team=team, author=None)  # no author: no lookup, an empty cell
        capture, rows = _statements(baselines.pr_export_rows, team)
        assert len(rows) == size + 2  # header + rows
        authors = sorted(row[3] for row in rows[1:])
        assert authors == [""] + ["'=HYPERLINK(1)"] * size  # neutralised against formula injection
        counts[size] = capture.count
    assert counts == {4: 1 + 4, 12: 1 + 12}


def test_key_metrics_recompute_every_time_and_comparison_doubles_them():
    team = _team_with_members(3)
    first, metrics = _statements(baselines.get_key_metrics, team, START, END)
    second, again = _statements(baselines.get_key_metrics, team, START, END)
    assert metrics == again and metrics["prs_merged"] == 6
    assert first.count == second.count == 4  # nothing cached: the same work on every call
    both, comparison = _statements(baselines.get_key_metrics_comparison, team, START, END)
    assert both.count == 2 * first.count
    assert comparison["current"] == metrics
    assert comparison["previous"]["prs_merged"] == 0


def test_weekly_aggregation_costs_statements_per_member():
    counts = {}
    for size in (3, 8):
        team = _team_with_members(size)
        week = dt.date(2026, 3, 11)  # a Wednesday: snapped to Monday 9 March
        capture, written = _statements(baselines.aggregate_team_weekly_metrics, team, week)
        assert written == size
        rows = WeeklyMetrics.objects.filter(team=team, week_start=dt.date(2026, 3, 9))
        assert rows.count() == size and all(r.prs_merged == 2 and r.commits_count == 2 for r in rows)
        counts[size] = capture.count
    per_member = (counts[8] - counts[3]) / 5
    assert per_member >= 6  # 5 reads + update_or_create's select and insert
    assert counts[3] == 1 + 3 * per_member


def test_report_fetch_requests_everything_every_time():
    days = [dt.date(2026, 3, 2) + dt.timedelta(days=d) for d in range(5)]
    with GitHubStub(org="acme") as github:
        for day in days:
            github.set_day(day, _copilot_records(["ada", "grace"], [day]))
        with httpx.Client(base_url=github.base_url) as client:
            records, requests = baselines.fetch_copilot_reports(client, "acme", days)
            assert len(records) == 10 and requests == 10  # a links request and a download per day
            _, again = baselines.fetch_copilot_reports(client, "acme", days)
        assert again == requests  # nothing changed upstream, yet every byte is fetched again
        assert github.count(200) == 20 and github.count(304) == 0
        assert not any(r.conditional for r in github.requests)
        with httpx.Client(base_url=github.base_url) as client:
            records_small, small = baselines.fetch_copilot_reports(client, "acme", days[:2])
        assert small == 4 and len(records_small) == 4  # requests grow with the days asked for


def test_pr_sync_fetches_and_writes_every_pr_review_and_commit_one_by_one():
    from apps.perflab import prsync

    stub = prsync.stand_in(120, members=8)  # two REST pages of PRs
    try:
        team = prsync.fresh_team(stub, "naive")
        stub.reset_log()
        with httpx.Client(base_url=stub.base_url) as http, capture_queries() as capture:
            first = baselines.sync_pull_requests(team, http, prsync.TOKEN, "acme/api")
        requests = stub.request_count
        again = baselines.sync_pull_requests(team, stub.base_url, prsync.TOKEN, "acme/api")  # everything again
    finally:
        stub.stop()
    assert first["pull_requests"] == 120 and first["reviews"] == 240 and first["commits"] == 360
    assert requests == first["requests"] == 2 + 2 * 120
    assert again["requests"] == first["requests"] and again["members_created"] == 0
    assert capture.count > 120 * 6 * 4 and capture.has_n_plus_one
    assert "apps/perflab/baselines.py" in capture.repeated()[0].call_site
