"""Weekly aggregation: a fixed statement budget, the baseline's rows exactly, idempotent, atomic.

Budget (DESIGN.md): ``aggregate_team_weekly_metrics`` <= 6 statements for any team size; it runs exactly 4 (3
when no member is active). Inside a test's transaction the service's ``atomic`` is a savepoint (``SAVEPOINT`` and
``RELEASE``): ``assert_num_queries``/``without_savepoints()`` leave those two out. The rows written equal what
the pre-fix loop in ``apps.perflab.baselines`` writes on the same generated data, awkward cases included.
"""

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from apps.metrics.factories import (
    CommitFactory,
    PRSurveyFactory,
    PRSurveyReviewFactory,
    PullRequestFactory,
    TeamMemberFactory,
)
from apps.metrics.models import PullRequest, TeamMember, WeeklyMetrics
from apps.metrics.services import aggregation_service
from apps.metrics.services.aggregation_service import FIGURE_FIELDS, aggregate_team_weekly_metrics
from apps.metrics.services.team_cache import team_data_version
from apps.perflab import baselines
from apps.perflab.testing import assert_constant_queries, assert_num_queries
from apps.teams.models import Team
from tests.metrics.services.generated import generated_teams

pytestmark = pytest.mark.django_db

END = dt.date(2026, 3, 29)  # a Sunday: the history's last week is complete
HISTORY_DAYS = 42  # six whole weeks, Monday 16 February to Sunday 29 March
FIRST_WEEK = dt.date(2026, 2, 16)
BUSY_WEEK = dt.date(2026, 3, 16)
# a week before the history and one after it (no activity), and every week in between
WEEKS = [FIRST_WEEK + dt.timedelta(weeks=n) for n in range(-1, 7)]


def _generated_teams(members: int, *, teams: int = 1, seed: int = 11, prs_per_member: int = 6) -> list[Team]:
    return generated_teams(members, teams=teams, seed=seed, prs_per_member=prs_per_member, days=HISTORY_DAYS, end=END)


def _at(day: dt.date, hour: int = 12, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=dt.UTC)


def _merged_pr(team, author, merged_at: dt.datetime, **fields) -> PullRequest:
    created = merged_at - dt.timedelta(hours=30)
    return PullRequestFactory(team=team, author=author, pr_created_at=created, merged_at=merged_at, **fields)


def _snapshot(**filters) -> list[tuple]:
    """Every matching WeeklyMetrics row as a plain tuple (no id), sorted."""
    rows = WeeklyMetrics.objects.filter(**filters).values_list("team_id", "member_id", "week_start", *FIGURE_FIELDS)
    return sorted(rows)


def _baseline_then_fix(team, week: dt.date) -> tuple[tuple[int, list[tuple]], tuple[int, list[tuple]]]:
    """(count, rows) written by the baseline, then (count, rows) written by the fix on the same data."""
    WeeklyMetrics.objects.filter(team=team).delete()
    base_count = baselines.aggregate_team_weekly_metrics(team, week)
    base_rows = _snapshot(team=team)
    WeeklyMetrics.objects.filter(team=team).delete()
    fix_count = aggregate_team_weekly_metrics(team, week)
    return (base_count, base_rows), (fix_count, _snapshot(team=team))


# --- statement counts ---------------------------------------------------------------------------


def test_statements_do_not_grow_with_the_team_and_stay_within_budget():
    teams, written = {}, {}

    def prepare(size):
        (team,) = teams[size] = _generated_teams(size)

        def operation():
            written[size] = aggregate_team_weekly_metrics(team, BUSY_WEEK)

        return operation

    captures = assert_constant_queries(prepare, sizes=(5, 50))
    assert captures[0].without_savepoints().count == 4, captures[0].statements()
    assert written[5] >= 4 and written[50] >= 45  # a row per active member (10% are inactive)
    inserts = [q for q in captures[1].queries if q.sql.startswith("INSERT")]
    assert len(inserts) == 1 and "ON CONFLICT" in inserts[0].sql, captures[1].statements()
    assert not captures[1].has_n_plus_one, captures[1].report()

    with assert_num_queries(4):  # the second run updates every row: still one statement
        assert aggregate_team_weekly_metrics(teams[50][0], BUSY_WEEK) == written[50]


def test_a_team_without_active_members_writes_nothing():
    team = TeamMemberFactory(is_active=False).team
    with assert_num_queries(3):
        assert aggregate_team_weekly_metrics(team, BUSY_WEEK) == 0
    assert not WeeklyMetrics.objects.exists()


# --- the same rows as the baseline --------------------------------------------------------------


def _add_awkward_rows(team, other_team) -> dict[str, TeamMember]:
    """Edge cases in BUSY_WEEK the generator does not produce, or not reliably; returns their members."""
    monday, next_monday = _at(BUSY_WEEK, 0), _at(BUSY_WEEK + dt.timedelta(days=7), 0)
    edge, tie = TeamMemberFactory(team=team), TeamMemberFactory(team=team)
    reviewer = TeamMemberFactory(team=team)
    # merged at the week's first instant (in) and at the next week's (out); open and closed PRs (out)
    first = _merged_pr(team, edge, monday, additions=10, deletions=3)
    _merged_pr(team, edge, monday + dt.timedelta(hours=5), first_review_at=None)  # no review time
    _merged_pr(team, edge, next_monday, is_hotfix=True)
    PullRequestFactory(team=team, author=edge, state="open", merged_at=None, pr_created_at=monday)
    PullRequestFactory(team=team, author=edge, state="closed", merged_at=None, pr_created_at=monday)
    reverted = _merged_pr(team, edge, monday + dt.timedelta(days=2), is_revert=True, is_ai_assisted=True)
    # an unanswered survey with a review that neither rates nor guesses
    unanswered = PRSurveyFactory(pull_request=first, author_ai_assisted=None)
    PRSurveyReviewFactory(survey=unanswered, reviewer=reviewer, quality_rating=None, ai_guess=None)
    # an answered survey: a rated review with a wrong guess, an unrated one without a guess
    answered = PRSurveyFactory(pull_request=reverted, author_ai_assisted=True)
    PRSurveyReviewFactory(survey=answered, reviewer=reviewer, quality_rating=1, ai_guess=False)
    PRSurveyReviewFactory(survey=answered, reviewer=TeamMemberFactory(team=team), quality_rating=None, ai_guess=None)
    # commits: the week's last second (in), the next Monday (out), without author (nobody's)
    CommitFactory(team=team, author=edge, committed_at=next_monday - dt.timedelta(seconds=1))
    CommitFactory(team=team, author=edge, committed_at=next_monday)
    CommitFactory(team=team, author=None, committed_at=monday + dt.timedelta(hours=3))
    # an average exactly half-way between two hundredths (1.005 hours): rounded half up
    _merged_pr(team, tie, monday + dt.timedelta(days=1), cycle_time_hours=Decimal("1.00"))
    _merged_pr(team, tie, monday + dt.timedelta(days=2), cycle_time_hours=Decimal("1.01"))
    # an inactive member who merged and committed this week: no row, as in the baseline
    gone = TeamMemberFactory(team=team, is_active=False)
    _merged_pr(team, gone, monday + dt.timedelta(days=1))
    CommitFactory(team=team, author=gone, committed_at=monday + dt.timedelta(days=1))
    # a PR without an author, surveyed and reviewed: nobody's figures
    orphan = _merged_pr(team, None, monday + dt.timedelta(days=3))
    PRSurveyReviewFactory(survey=PRSurveyFactory(pull_request=orphan, author=None), reviewer=reviewer)
    # another team's PR and commit by this team's member: counted for neither team
    stray = _merged_pr(other_team, edge, monday + dt.timedelta(days=4))
    PRSurveyReviewFactory(survey=PRSurveyFactory(pull_request=stray), reviewer=TeamMemberFactory(team=other_team))
    CommitFactory(team=other_team, author=edge, committed_at=monday + dt.timedelta(days=4))
    return {"edge": edge, "tie": tie, "gone": gone}


@pytest.mark.parametrize("seed", [3, 11, 29])
def test_writes_exactly_what_the_baseline_writes(seed):
    teams = _generated_teams(12, teams=2, seed=seed)
    _add_awkward_rows(*teams)
    seen = {"weeks with activity": 0, "weeks without": 0, "ratings": 0, "guess accuracies": 0, "unrated": 0}
    for team, week in itertools.product(teams, WEEKS):
        (base_count, base_rows), (fix_count, fix_rows) = _baseline_then_fix(team, week)
        assert fix_count == base_count == len(base_rows)
        assert fix_rows == base_rows, f"team {team.slug}, week of {week}"
        activity = any(row[3] or row[6] for row in base_rows)  # PRs merged or commits
        seen["weeks with activity" if activity else "weeks without"] += 1
        seen["ratings"] += sum(row[13] is not None for row in base_rows)
        seen["guess accuracies"] += sum(row[14] is not None for row in base_rows)
        seen["unrated"] += sum(row[3] > 0 and row[13] is None for row in base_rows)
    assert all(seen.values()), seen  # every kind of row really occurred
    inactive = TeamMember.objects.filter(team__in=teams, is_active=False)
    assert inactive.exists() and not WeeklyMetrics.objects.filter(member__in=inactive).exists()


def test_awkward_rows_have_the_expected_figures():
    team, other_team = _generated_teams(4, teams=2, prs_per_member=1, seed=5)
    members = _add_awkward_rows(team, other_team)
    aggregate_team_weekly_metrics(team, BUSY_WEEK)
    row = WeeklyMetrics.objects.get(member=members["edge"], week_start=BUSY_WEEK)
    assert (row.prs_merged, row.revert_count, row.hotfix_count, row.ai_assisted_prs) == (3, 1, 0, 1)
    assert (row.commits_count, row.surveys_completed) == (1, 1)
    assert row.avg_quality_rating == Decimal("1.00")  # unrated reviews do not count
    assert row.guess_accuracy == Decimal("0.00")  # one guess, wrong; the others made none
    assert WeeklyMetrics.objects.get(member=members["tie"]).avg_cycle_time_hours == Decimal("1.01")
    assert not WeeklyMetrics.objects.filter(member=members["gone"]).exists()
    assert not WeeklyMetrics.objects.filter(team=other_team).exists()


# --- idempotency, snapping --------------------------------------------------------------------


def test_running_twice_writes_the_same_rows_and_updates_in_place():
    (team,) = _generated_teams(10)
    first_count = aggregate_team_weekly_metrics(team, BUSY_WEEK)
    first_rows = _snapshot(team=team)
    first_ids = sorted(WeeklyMetrics.objects.values_list("id", flat=True))
    second_count = aggregate_team_weekly_metrics(team, BUSY_WEEK)
    assert second_count == first_count == len(first_rows)
    assert _snapshot(team=team) == first_rows
    assert sorted(WeeklyMetrics.objects.values_list("id", flat=True)) == first_ids  # no duplicates, no new rows

    member = TeamMember.objects.filter(team=team, is_active=True).order_by("id").first()
    before = WeeklyMetrics.objects.get(member=member).prs_merged
    _merged_pr(team, member, _at(BUSY_WEEK + dt.timedelta(days=2)))
    assert aggregate_team_weekly_metrics(team, BUSY_WEEK) == first_count
    assert WeeklyMetrics.objects.get(member=member).prs_merged == before + 1
    assert sorted(WeeklyMetrics.objects.values_list("id", flat=True)) == first_ids


@pytest.mark.parametrize(
    "day", [BUSY_WEEK, BUSY_WEEK + dt.timedelta(days=2), BUSY_WEEK + dt.timedelta(days=6)], ids=["mon", "wed", "sun"]
)
def test_any_day_is_snapped_to_its_monday(day):
    (team,) = _generated_teams(6)
    aggregate_team_weekly_metrics(team, BUSY_WEEK)
    on_monday = _snapshot(team=team)
    WeeklyMetrics.objects.all().delete()
    written = aggregate_team_weekly_metrics(team, day)
    assert written == len(on_monday) > 0
    assert set(WeeklyMetrics.objects.values_list("week_start", flat=True)) == {BUSY_WEEK}
    assert _snapshot(team=team) == on_monday


def test_a_datetime_is_refused():
    team = TeamMemberFactory().team
    with pytest.raises(TypeError, match="datetime.date"):
        aggregate_team_weekly_metrics(team, _at(BUSY_WEEK))


# --- cache version, atomicity --------------------------------------------------------------------


def test_the_team_cache_version_is_bumped_on_commit_only(django_capture_on_commit_callbacks):
    team, other_team = _generated_teams(5, teams=2)
    before, other_before = team_data_version(team.id), team_data_version(other_team.id)
    with django_capture_on_commit_callbacks(execute=False) as pending:
        aggregate_team_weekly_metrics(team, BUSY_WEEK)
    assert len(pending) == 1 and team_data_version(team.id) == before  # not before the commit
    with django_capture_on_commit_callbacks(execute=True):
        aggregate_team_weekly_metrics(team, BUSY_WEEK)
    assert team_data_version(team.id) == before + 1
    assert team_data_version(other_team.id) == other_before


def test_a_failed_write_leaves_nothing_behind(monkeypatch, django_capture_on_commit_callbacks):
    team, other_team = _generated_teams(6, teams=2)
    aggregate_team_weekly_metrics(team, BUSY_WEEK - dt.timedelta(weeks=1))  # an earlier week, kept
    kept = _snapshot()
    real_bulk_create = WeeklyMetrics.objects.bulk_create

    def write_then_fail(*args, **kwargs):
        real_bulk_create(*args, **kwargs)  # the rows reach the table...
        raise RuntimeError("the write failed")  # ...and then something fails

    monkeypatch.setattr(aggregation_service.WeeklyMetrics.objects, "bulk_create", write_then_fail)
    version = team_data_version(team.id)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        aggregate_team_weekly_metrics(team, BUSY_WEEK)
    assert _snapshot() == kept  # rolled back: the week's rows are gone, the earlier week untouched
    assert not callbacks and team_data_version(team.id) == version


def test_a_bot_gets_no_weekly_row():
    person = TeamMemberFactory()
    bot = TeamMemberFactory(team=person.team, github_username="renovate[bot]", is_bot=True)
    merged_at = _at(BUSY_WEEK + dt.timedelta(days=2))
    _merged_pr(person.team, person, merged_at)
    _merged_pr(person.team, bot, merged_at)
    CommitFactory(team=person.team, author=bot, committed_at=merged_at)

    assert aggregate_team_weekly_metrics(person.team, BUSY_WEEK) == 1
    assert list(WeeklyMetrics.objects.values_list("member_id", "prs_merged")) == [(person.id, 1)]
