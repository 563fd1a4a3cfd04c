"""``manage.py aggregate_weeks``: rebuild a range or catch teams up, with progress, and clear errors."""

import datetime as dt
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.metrics.factories import PullRequestFactory, TeamMemberFactory
from apps.metrics.models import WeeklyMetrics
from apps.metrics.services.aggregation_service import last_complete_week
from apps.teams.factories import TeamFactory
from apps.teams.models import Team

pytestmark = pytest.mark.django_db

MONDAY = dt.date(2026, 3, 2)


def _run(*args) -> str:
    out = StringIO()
    call_command("aggregate_weeks", *args, stdout=out)
    return out.getvalue()


def _team(slug: str, members: int = 2) -> Team:
    team = TeamFactory(slug=slug)
    authors = TeamMemberFactory.create_batch(members, team=team)
    merged = dt.datetime(2026, 3, 4, 12, tzinfo=dt.UTC)
    PullRequestFactory(team=team, author=authors[0], pr_created_at=merged - dt.timedelta(days=1), merged_at=merged)
    return team


def _watermark(slug: str) -> dt.date | None:
    return Team.objects.values_list("weekly_metrics_through", flat=True).get(slug=slug)


def test_a_range_is_rebuilt_with_progress_per_team_and_week():
    for slug, members in (("alpha", 3), ("beta", 2), ("gamma", 1)):
        _team(slug, members=members)
    out = _run("--team", "beta", "alpha", "--from", "2026-03-04", "--to", "2026-03-16")  # Wednesday..Monday
    lines = out.splitlines()
    assert lines[0] == "[1/2] alpha (aggregated through None)"
    assert re.fullmatch(r"  week 1: 2026-03-02  3 rows  \d+\.\d{3} s  \(\d+\.\d s elapsed\)", lines[1]), out
    assert lines[2].startswith("  week 2: 2026-03-09  3 rows") and lines[3].startswith("  week 3: 2026-03-16  3 rows")
    assert re.fullmatch(r"  alpha: 3 week\(s\), 9 rows in \d+\.\d s; aggregated through 2026-03-16", lines[4]), out
    assert lines[5] == "[2/2] beta (aggregated through None)"
    assert re.fullmatch(r"2 team\(s\), 6 week\(s\), 15 rows in \d+\.\d s", lines[-1]), out
    stored = WeeklyMetrics.objects.values_list("team__slug", "week_start").distinct()
    assert sorted(set(stored)) == [
        (slug, MONDAY + dt.timedelta(weeks=n)) for slug in ("alpha", "beta") for n in range(3)
    ]
    assert _watermark("alpha") == _watermark("beta") == dt.date(2026, 3, 16) and _watermark("gamma") is None


def test_a_rebuild_does_not_move_the_watermark_backwards_and_rewrites_rows_in_place():
    _team("alpha")
    _run("--team", "alpha", "--from", "2026-03-02", "--to", "2026-03-22")
    rows = sorted(WeeklyMetrics.objects.values_list("id", "week_start", "prs_merged"))
    out = _run("--team", "alpha", "--from", "2026-03-02", "--to", "2026-03-08")
    assert "1 week(s), 2 rows" in out and "aggregated through 2026-03-16" in out
    assert _watermark("alpha") == dt.date(2026, 3, 16)
    assert sorted(WeeklyMetrics.objects.values_list("id", "week_start", "prs_merged")) == rows


def test_without_from_each_team_catches_up_from_its_watermark():
    _team("alpha")
    Team.objects.filter(slug="alpha").update(weekly_metrics_through=MONDAY)
    out = _run("--to", "2026-03-22")
    assert "[1/1] alpha (aggregated through 2026-03-02)" in out
    assert "week 1: 2026-03-09" in out and "week 2: 2026-03-16" in out and "week 3" not in out
    assert _watermark("alpha") == dt.date(2026, 3, 16)
    assert "alpha: 0 week(s)" in _run("--to", "2026-03-22")  # caught up: nothing to do


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-02-30"], "--from must be a date, YYYY-MM-DD, not '2026-02-30'"),
        (["--to", "last monday"], "--to must be a date, YYYY-MM-DD, not 'last monday'"),
        (["--from", "2026-03-10", "--to", "2026-03-09"], "--from 2026-03-10 is after --to 2026-03-09"),
        (["--team", "alpha", "nope", "zilch"], "unknown team(s): nope, zilch"),
        (["--to", "2999-01-04"], "--to 2999-01-04: that week has not ended yet"),
        (["--from", "2999-01-04"], "--from 2999-01-04: that week has not ended yet"),
    ],
    ids=["bad-from", "bad-to", "from-after-to", "unknown-team", "to-in-future", "from-in-future"],
)
def test_bad_arguments_are_refused_and_nothing_is_written(args, message):
    _team("alpha")
    with pytest.raises(CommandError) as raised:
        _run(*args)
    assert message in str(raised.value)
    assert not WeeklyMetrics.objects.exists() and _watermark("alpha") is None


def test_the_current_week_is_named_when_refused():
    this_monday = last_complete_week() + dt.timedelta(weeks=1)
    with pytest.raises(CommandError, match=f"the last complete week is that of {last_complete_week()}"):
        _run("--to", this_monday.isoformat())


def test_no_teams_is_an_error():
    with pytest.raises(CommandError, match="there are no teams"):
        _run()


def test_a_failing_week_stops_with_the_weeks_done_kept(monkeypatch):
    from apps.metrics.services import aggregation_service

    _team("alpha")
    real = aggregation_service._write_week

    def fail_on_the_16th(team_id, week_start):
        if week_start == dt.date(2026, 3, 16):
            raise RuntimeError("disk full")
        return real(team_id, week_start)

    monkeypatch.setattr(aggregation_service, "_write_week", fail_on_the_16th)
    with pytest.raises(CommandError, match=r"alpha: RuntimeError\('disk full'\); .*aggregated through 2026-03-09"):
        _run("--from", "2026-03-02", "--to", "2026-03-22")
    assert _watermark("alpha") == dt.date(2026, 3, 9)
