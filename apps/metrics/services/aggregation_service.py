"""Weekly per-member metrics: one team's week rebuilt in a fixed number of statements.

``aggregate_team_weekly_metrics`` replaces the audited loop (five reads and an
``update_or_create`` per active member: ``apps.perflab.baselines``) with three grouped reads and
one upsert, whatever the team's size:

1. the active members (bots left out), each LEFT JOINed to their PRs merged in the week and to
   those PRs' one-to-one surveys, grouped by member: every PR figure and the answered surveys;
2. the week's commits, grouped by author;
3. the survey reviews of the week's merged PRs, grouped by the PR's author: ratings and guesses;
4. one ``INSERT ... ON CONFLICT (team, member, week_start) DO UPDATE`` of every member's row.

Inside an already open transaction (a test, a caller's ``atomic``) the savepoint adds two more.
The reads are ``CompiledQuery``s: built and compiled once per process, which halves their cost
(notebook 07). Figures are rounded by ``apps.metrics.services.numbers`` exactly as the baseline
rounds them, so both write the same rows on the same data.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Avg, Count, F, FilteredRelation, Q, Sum

from apps.metrics.models import Commit, PRSurveyReview, PullRequest, TeamMember, WeeklyMetrics
from apps.metrics.services.compiled import CompiledQuery
from apps.metrics.services.dates import monday_of, range_bounds
from apps.metrics.services.numbers import percent, two_places
from apps.metrics.services.team_cache import bump_team_data_version

if TYPE_CHECKING:
    from apps.teams.models import Team

FIGURE_FIELDS = [
    "prs_merged",
    "avg_cycle_time_hours",
    "avg_review_time_hours",
    "commits_count",
    "lines_added",
    "lines_removed",
    "revert_count",
    "hotfix_count",
    "ai_assisted_prs",
    "surveys_completed",
    "avg_quality_rating",
    "guess_accuracy",
]


def week_bounds(week_start: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """``[Monday 00:00 UTC, next Monday 00:00 UTC)`` of a Monday."""
    return range_bounds(week_start, week_start + dt.timedelta(days=6))


def _active_members_with_pr_figures(team_id: int, lower: dt.datetime, upper: dt.datetime):
    merged_in_week = Q(
        pull_requests__team_id=team_id,
        pull_requests__state=PullRequest.State.MERGED,
        pull_requests__merged_at__gte=lower,
        pull_requests__merged_at__lt=upper,
    )
    answered = Q(merged__survey__author_ai_assisted__isnull=False)
    return (
        TeamMember.objects.filter(team_id=team_id, is_active=True, is_bot=False)
        # the week sits in the JOIN's ON clause: members without PRs keep their (empty) row
        .annotate(merged=FilteredRelation("pull_requests", condition=merged_in_week))
        .order_by("id")
        .values("id")
        .annotate(
            prs_merged=Count("merged"),
            avg_cycle=Avg("merged__cycle_time_hours"),
            avg_review=Avg("merged__review_time_hours"),
            lines_added=Sum("merged__additions"),
            lines_removed=Sum("merged__deletions"),
            reverts=Count("merged", filter=Q(merged__is_revert=True)),
            hotfixes=Count("merged", filter=Q(merged__is_hotfix=True)),
            ai_assisted=Count("merged", filter=Q(merged__is_ai_assisted=True)),
            # one survey per PR: joining it inflates nothing
            surveys_completed=Count("merged__survey", filter=answered),
        )
    )


def _commits_by_author(team_id: int, lower: dt.datetime, upper: dt.datetime):
    return (
        Commit.objects.filter(team_id=team_id, committed_at__gte=lower, committed_at__lt=upper, author__isnull=False)
        .order_by()
        .values("author_id")
        .annotate(commits=Count("id"))
    )


def _survey_reviews_by_pr_author(team_id: int, lower: dt.datetime, upper: dt.datetime):
    # Many reviews per PR: joined into the members' statement they would inflate every PR figure.
    return (
        PRSurveyReview.objects.filter(
            survey__pull_request__team_id=team_id,
            survey__pull_request__state=PullRequest.State.MERGED,
            survey__pull_request__merged_at__gte=lower,
            survey__pull_request__merged_at__lt=upper,
            survey__pull_request__author__isnull=False,
        )
        .order_by()
        .values(author_id=F("survey__pull_request__author"))
        .annotate(
            rating=Avg("quality_rating"),
            guesses=Count("id", filter=Q(guess_correct__isnull=False)),
            correct_guesses=Count("id", filter=Q(guess_correct=True)),
        )
    )


_WEEK_PARAMETERS = {"team_id": int, "lower": dt.datetime, "upper": dt.datetime}
_ACTIVE_MEMBERS_WITH_PR_FIGURES = CompiledQuery(_active_members_with_pr_figures, **_WEEK_PARAMETERS)
_COMMITS_BY_AUTHOR = CompiledQuery(_commits_by_author, **_WEEK_PARAMETERS)
_SURVEY_REVIEWS_BY_PR_AUTHOR = CompiledQuery(_survey_reviews_by_pr_author, **_WEEK_PARAMETERS)


def aggregate_team_weekly_metrics(team: Team, week_start: dt.date) -> int:
    """Rebuild the team's ``WeeklyMetrics`` of one week: a row per active member, idempotently.

    ``week_start`` may be any day: it is snapped to the Monday of its ISO week (a Wednesday
    rebuilds the week that began two days before). The week is ``[Monday 00:00 UTC, next Monday)``:
    PR figures count the member's PRs merged in it; commits count by ``committed_at``; surveys,
    ratings and guesses are those of the member's PRs merged in it. Inactive members and bots get no
    row (their existing rows are left alone), PRs and commits without an author are nobody's.

    Four statements in one transaction whatever the team's size; re-running overwrites the same
    rows. The team's cached figures are invalidated once the transaction commits. Returns the
    number of rows written.
    """
    if not isinstance(week_start, dt.date) or isinstance(week_start, dt.datetime):
        raise TypeError(f"week_start must be a datetime.date, not {week_start!r}")
    week_start = monday_of(week_start)
    lower, upper = week_bounds(week_start)
    with transaction.atomic():
        week = {"team_id": team.id, "lower": lower, "upper": upper}
        members = _ACTIVE_MEMBERS_WITH_PR_FIGURES.rows(**week)
        commits = {row["author_id"]: row["commits"] for row in _COMMITS_BY_AUTHOR.rows(**week)}
        reviews = {row["author_id"]: row for row in _SURVEY_REVIEWS_BY_PR_AUTHOR.rows(**week)}
        rows = [_weekly_row(team.id, week_start, member, commits, reviews) for member in members]
        WeeklyMetrics.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["team", "member", "week_start"],
            update_fields=FIGURE_FIELDS,
        )
        bump_team_data_version(team.id)
    return len(rows)


def _weekly_row(team_id: int, week_start: dt.date, member: dict, commits: dict, reviews: dict) -> WeeklyMetrics:
    review = reviews.get(member["id"], {})
    return WeeklyMetrics(
        team_id=team_id,
        member_id=member["id"],
        week_start=week_start,
        prs_merged=member["prs_merged"],
        avg_cycle_time_hours=two_places(member["avg_cycle"]),
        avg_review_time_hours=two_places(member["avg_review"]),
        commits_count=commits.get(member["id"], 0),
        lines_added=member["lines_added"] or 0,
        lines_removed=member["lines_removed"] or 0,
        revert_count=member["reverts"],
        hotfix_count=member["hotfixes"],
        ai_assisted_prs=member["ai_assisted"],
        surveys_completed=member["surveys_completed"],
        avg_quality_rating=two_places(_as_float(review.get("rating"))),
        guess_accuracy=percent(review.get("correct_guesses", 0), review.get("guesses", 0)),
    )


def _as_float(value) -> float | None:
    # The ORM hands an average over an integer column back as a float, and the baseline rounds
    # that float; the compiled query returns PostgreSQL's numeric, so convert it the same way.
    return None if value is None else float(value)
