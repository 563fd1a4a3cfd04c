"""Weekly aggregation over spans of weeks: the team's watermark, catching up, resuming, rebuilding, budgets.

``aggregate_team_weeks`` runs ``aggregate_team_weekly_metrics``'s statements once per week, each week in a
transaction of its own with the watermark's advance. Inside a test's transaction each week's ``atomic`` is a
savepoint; ``without_savepoints()`` (the lab's one helper for it) leaves SAVEPOINT and RELEASE out, so a week is
5 statements here as in production.
"""

import datetime as dt
import logging

import pytest

from apps.metrics.factories import CommitFactory, PullRequestFactory, TeamMemberFactory
from apps.metrics.models import TeamMember, WeeklyMetrics
from apps.metrics.services import aggregation_service
from apps.metrics.services.aggregation_service import (
    FIGURE_FIELDS,
    aggregate_team_weekly_metrics,
    aggregate_team_weeks,
    last_complete_week,
)
from apps.perflab.datagen import DatasetSpec, generate
from apps.perflab.testing import assert_constant_queries, assert_max_queries, assert_num_queries
from apps.teams.models import Team

pytestmark = pytest.mark.django_db

W0 = dt.date(2026, 2, 16)  # a Monday: the first week with activity
TODAY = dt.date(2026, 3, 18)  # a Wednesday: the last complete week is that of Monday 9 March
LAST = dt.date(2026, 3, 9)
STATEMENTS_PER_WEEK = 5  # three reads, the upsert, the watermark's UPDATE (the test's savepoint pair left out)


def week(n: int) -> dt.date:
    return W0 + dt.timedelta(weeks=n)


def _team(members: int = 3) -> Team:
    """A team whose first activity is a PR merged on the Wednesday of W0, and one commit in week 2."""
    authors = TeamMemberFactory.create_batch(members)
    team = authors[0].team
    TeamMember.objects.filter(id__in=[a.id for a in authors[1:]]).update(team=team)
    merged = dt.datetime.combine(week(0) + dt.timedelta(days=2), dt.time(15), tzinfo=dt.UTC)
    PullRequestFactory(team=team, author=authors[0], pr_created_at=merged - dt.timedelta(days=9), merged_at=merged)
    CommitFactory(team=team, author=authors[1], committed_at=merged + dt.timedelta(weeks=2))
    return team


def _watermark(team) -> dt.date | None:
    return Team.objects.values_list("weekly_metrics_through", flat=True).get(pk=team.pk)


def _snapshot(team) -> list[tuple]:
    return sorted(WeeklyMetrics.objects.filter(team=team).values_list("id", "member_id", "week_start", *FIGURE_FIELDS))


def _weeks_stored(team) -> list[dt.date]:
    return sorted(set(WeeklyMetrics.objects.filter(team=team).values_list("week_start", flat=True)))


# --- the watermark ------------------------------------------------------------------------------------------


def test_a_team_without_watermark_starts_at_its_first_activity_and_ends_at_the_last_complete_week():
    team = _team(members=3)
    result = aggregate_team_weeks(team, today=TODAY)
    assert result.weeks == tuple(week(n) for n in range(4)) and result.weeks[-1] == LAST
    assert result.rows == 4 * 3 == WeeklyMetrics.objects.filter(team=team).count()
    assert result.through == team.weekly_metrics_through == _watermark(team) == LAST
    assert result.remaining == 0
    assert WeeklyMetrics.objects.get(team=team, week_start=week(0), prs_merged=1)  # the first PR's week is in
    assert WeeklyMetrics.objects.filter(team=team, week_start=week(2), commits_count=1).count() == 1


def test_the_first_commit_counts_as_activity_when_it_precedes_every_merge():
    team = _team()
    CommitFactory(team=team, author=None, committed_at=dt.datetime(2026, 2, 4, 8, tzinfo=dt.UTC))  # week of 2 Feb
    assert aggregate_team_weeks(team, today=TODAY).weeks[0] == dt.date(2026, 2, 2)


def test_a_team_without_any_activity_gets_just_the_last_week():
    member = TeamMemberFactory()
    result = aggregate_team_weeks(member.team, today=TODAY)
    assert (result.weeks, result.rows, _watermark(member.team)) == ((LAST,), 1, LAST)


def test_a_missed_monday_is_filled_by_the_next_run_and_a_caught_up_team_costs_nothing():
    team = _team()
    aggregate_team_weeks(team, today=week(2) + dt.timedelta(days=1))  # Tuesday of week 2: through week 1
    assert _watermark(team) == week(1) and _weeks_stored(team) == [week(0), week(1)]

    # the Monday of week 3 was missed; the next run, in week 4, does weeks 2 and 3
    fresh = Team.objects.get(pk=team.pk)
    result = aggregate_team_weeks(fresh, today=week(4))
    assert result.weeks == (week(2), week(3)) and _watermark(team) == week(3)
    assert _weeks_stored(team) == [week(n) for n in range(4)]

    with assert_max_queries(0):
        again = aggregate_team_weeks(fresh, today=week(4) + dt.timedelta(days=3))
    assert (again.weeks, again.rows, again.through) == ((), 0, week(3))


def test_through_an_earlier_week_than_the_watermark_does_nothing():
    team = _team()
    aggregate_team_weeks(team, today=TODAY)
    assert aggregate_team_weeks(team, through=week(1), today=TODAY).weeks == ()
    assert _watermark(team) == LAST


def test_a_week_that_has_not_ended_is_refused():
    team = _team()
    with pytest.raises(ValueError, match="has not ended yet"):
        aggregate_team_weeks(team, through=TODAY, today=TODAY)  # this week: Monday 16 March, still running
    with pytest.raises(TypeError, match="datetime.date"):
        aggregate_team_weeks(team, through=dt.datetime(2026, 3, 2, tzinfo=dt.UTC), today=TODAY)
    assert _watermark(team) is None and not WeeklyMetrics.objects.exists()


def test_last_complete_week_is_the_monday_before_this_weeks():
    assert last_complete_week(dt.date(2026, 3, 16)) == last_complete_week(dt.date(2026, 3, 22)) == LAST
    assert last_complete_week(dt.date(2026, 3, 15)) == dt.date(2026, 3, 2)


# --- failure part-way, the cap --------------------------------------------------------------------------------


def test_a_failure_part_way_keeps_the_weeks_done_and_the_next_run_resumes(monkeypatch, caplog):
    team = _team()
    real_write_week = aggregation_service._write_week

    def fail_in_week_2(team_id, week_start):
        written = real_write_week(team_id, week_start)  # the week's rows reach the table...
        if week_start == week(2):
            raise RuntimeError("the database went away")  # ...and then it fails
        return written

    monkeypatch.setattr(aggregation_service, "_write_week", fail_in_week_2)
    done = []
    with caplog.at_level(logging.WARNING, logger=aggregation_service.__name__), pytest.raises(RuntimeError):
        aggregate_team_weeks(team, today=TODAY, on_week=lambda w: done.append(w.week_start))
    assert done == [week(0), week(1)]
    assert _watermark(team) == team.weekly_metrics_through == week(1)
    assert _weeks_stored(team) == [week(0), week(1)]  # week 2's rows rolled back with its transaction
    (record,) = caplog.records
    assert "failed at the week of 2026-03-02" in record.getMessage() and "aggregated through 2026-02-23" in (
        record.getMessage()
    )

    monkeypatch.setattr(aggregation_service, "_write_week", real_write_week)
    result = aggregate_team_weeks(Team.objects.get(pk=team.pk), today=TODAY)
    assert result.weeks == (week(2), week(3)) and _watermark(team) == LAST


def test_a_long_catch_up_is_capped_oldest_first_and_the_next_run_continues():
    team = _team(members=2)
    first = aggregate_team_weeks(team, today=TODAY, max_weeks=3)
    assert first.weeks == (week(0), week(1), week(2)) and first.remaining == 1 and _watermark(team) == week(2)
    second = aggregate_team_weeks(team, today=TODAY, max_weeks=3)
    assert second.weeks == (week(3),) and second.remaining == 0 and _watermark(team) == LAST


def test_the_default_cap_is_a_year_of_weeks():
    member = TeamMemberFactory()
    Team.objects.filter(pk=member.team_id).update(weekly_metrics_through=LAST - dt.timedelta(weeks=60))
    result = aggregate_team_weeks(Team.objects.get(pk=member.team_id), today=TODAY)
    assert aggregation_service.MAX_CATCH_UP_WEEKS == 52
    assert (len(result.weeks), result.remaining) == (52, 8)
    assert result.through == LAST - dt.timedelta(weeks=8)


# --- rebuilding a range, idempotence ------------------------------------------------------------------------


def test_running_twice_writes_the_same_rows_in_place():
    team = _team()
    aggregate_team_weeks(team, today=TODAY)
    first = _snapshot(team)
    rebuilt = aggregate_team_weeks(team, since=week(0), through=LAST, today=TODAY)
    assert rebuilt.weeks == tuple(week(n) for n in range(4)) and rebuilt.rows == len(first)
    assert _snapshot(team) == first  # same ids, same figures: updated in place
    assert _watermark(team) == LAST


def test_the_rows_are_those_of_the_one_week_service():
    team = _team(members=4)
    aggregate_team_weeks(team, today=TODAY)
    by_span = [row[1:] for row in _snapshot(team)]
    WeeklyMetrics.objects.all().delete()
    for n in range(4):
        aggregate_team_weekly_metrics(team, week(n))
    assert [row[1:] for row in _snapshot(team)] == by_span


def test_a_rebuild_never_moves_the_watermark_backwards_and_advances_it_only_without_a_gap():
    team = _team()
    aggregate_team_weeks(team, through=week(1), today=TODAY)
    assert _watermark(team) == week(1)

    aggregate_team_weeks(team, since=week(0), through=week(0), today=TODAY)  # behind the watermark
    assert _watermark(team) == week(1)

    aggregate_team_weeks(team, since=week(3), through=week(3), today=TODAY)  # week 2 would be skipped: a gap
    assert _watermark(team) == week(1) and week(3) in _weeks_stored(team)

    aggregate_team_weeks(team, since=week(1), through=week(2), today=TODAY)  # overlaps, then continues it
    assert _watermark(team) == week(2)


def test_a_rebuild_of_a_team_without_watermark_sets_it_only_from_its_first_activity():
    team = _team()
    aggregate_team_weeks(team, since=week(1), through=week(2), today=TODAY)  # week 0 has a PR: left out
    assert _watermark(team) is None
    aggregate_team_weeks(team, since=week(0) - dt.timedelta(days=3), through=week(1), today=TODAY)  # a Friday
    assert _watermark(team) == week(1)


def test_any_day_means_its_week():
    team = _team()
    result = aggregate_team_weeks(team, since=week(1) + dt.timedelta(days=6), through=week(2) + dt.timedelta(days=3),
                                  today=TODAY)  # fmt: skip
    assert result.weeks == (week(1), week(2))


# --- logging, statements --------------------------------------------------------------------------------------


def test_one_log_line_per_run_with_the_weeks_rows_and_duration(caplog):
    team = _team(members=2)
    with caplog.at_level(logging.INFO, logger=aggregation_service.__name__):
        aggregate_team_weeks(team, today=TODAY)
    (record,) = caplog.records
    message = record.getMessage()
    assert record.levelno == logging.INFO
    assert f"team {team.slug} ({team.id})" in message
    assert "4 week(s) 2026-02-16..2026-03-09, 8 rows in " in message and "aggregated through 2026-03-09" in message


def _generated_team(members: int) -> Team:
    spec = DatasetSpec(
        teams=1, members_per_team=members, prs_per_member=6, days=28, seed=7, end_date=LAST + dt.timedelta(days=6),
        team_slug_prefix=f"weeks{members}",
    )  # fmt: skip
    return Team.objects.get(pk=generate(spec, progress=False).team_ids[0])


@pytest.mark.parametrize("watermark", [True, False], ids=["catch-up", "first-run"])
def test_statements_per_week_are_constant_whatever_the_team_size(watermark):
    spans = {}

    def prepare(size):
        team = _generated_team(size)
        if watermark:
            Team.objects.filter(pk=team.pk).update(weekly_metrics_through=LAST - dt.timedelta(weeks=3))
        else:  # the first run, through a week: it starts at the first activity, four weeks back
            assert aggregation_service._first_active_week(team.id) == LAST - dt.timedelta(weeks=3)
        team.refresh_from_db()

        def operation():
            spans[size] = aggregate_team_weeks(team, through=LAST - dt.timedelta(weeks=1), today=TODAY)

        return operation

    captures = assert_constant_queries(prepare, sizes=(5, 50))
    weeks = 2 if watermark else 3
    assert len(spans[5].weeks) == len(spans[50].weeks) == weeks
    assert spans[50].rows > spans[5].rows >= weeks * 4  # a row per active member and week
    lookup = 0 if watermark else 1  # the team's first activity, once
    assert captures[1].without_savepoints().count == weeks * STATEMENTS_PER_WEEK + lookup, captures[1].statements()
    sql = [q.sql for q in captures[1].queries]
    assert sum(s.startswith("INSERT") and "ON CONFLICT" in s for s in sql) == weeks, captures[1].statements()
    assert sum(s.startswith('UPDATE "teams_team"') for s in sql) == weeks, captures[1].statements()


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_week_is_five_statements_and_each_week_commits_on_its_own(monkeypatch):
    team = _team(members=3)
    Team.objects.filter(pk=team.pk).update(weekly_metrics_through=week(0))
    team.refresh_from_db()
    with assert_num_queries(STATEMENTS_PER_WEEK) as capture:
        aggregate_team_weeks(team, through=week(1), today=TODAY)
    assert capture.count == 5, capture.statements()  # and no savepoints at all: the week's atomic is the transaction

    def fail(team_id, week_start):
        raise RuntimeError("boom")

    monkeypatch.setattr(aggregation_service, "_write_week", fail)
    with pytest.raises(RuntimeError):
        aggregate_team_weeks(team, today=TODAY)
    assert _watermark(team) == week(1) and _weeks_stored(team) == [week(1)]  # committed before, kept after
