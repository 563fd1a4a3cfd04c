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

``aggregate_team_weeks`` runs it over a span of weeks and keeps the team's watermark,
``Team.weekly_metrics_through`` (the last Monday whose week is aggregated, like the Copilot sync's
``copilot_synced_through``): without ``since`` it catches the team up, every complete week after the
watermark through ``through``, so a missed Monday is filled by the next run; with ``since`` it
rebuilds that range. Each week commits on its own with the watermark's advance (``GREATEST``: never
backwards), so a failure part-way keeps the weeks done and the next run resumes at the failed one.
A week costs five statements (the four above and the watermark's ``UPDATE``; four when a rebuild
leaves the watermark where it is), plus a savepoint pair inside a caller's transaction; a team
without a watermark costs one more, once, to find its first activity.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Avg, Count, DateField, F, FilteredRelation, Min, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Greatest, Least

from apps.metrics.models import Commit, PRSurveyReview, PullRequest, TeamMember, WeeklyMetrics
from apps.metrics.services.compiled import CompiledQuery
from apps.metrics.services.dates import monday_of, range_bounds
from apps.metrics.services.numbers import percent, two_places
from apps.metrics.services.team_cache import bump_team_data_version
from apps.teams.models import Team

logger = logging.getLogger(__name__)

# A catch-up (no ``since``) aggregates at most this many weeks per run, oldest first: a year of weeks,
# about 8 s for a 200-member team (< 150 ms a week). The watermark marks where it stopped, the result's
# ``remaining`` how many complete weeks are still due; the Celery task enqueues itself again until none are.
MAX_CATCH_UP_WEEKS = 52

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


def active_members_with_pr_figures(team_id: int, lower: dt.datetime, upper: dt.datetime):
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


def commits_by_author(team_id: int, lower: dt.datetime, upper: dt.datetime):
    return (
        Commit.objects.filter(team_id=team_id, committed_at__gte=lower, committed_at__lt=upper, author__isnull=False)
        .order_by()
        .values("author_id")
        .annotate(commits=Count("id"))
    )


def survey_reviews_by_pr_author(team_id: int, lower: dt.datetime, upper: dt.datetime):
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
ACTIVE_MEMBERS_WITH_PR_FIGURES = CompiledQuery(active_members_with_pr_figures, **_WEEK_PARAMETERS)
COMMITS_BY_AUTHOR = CompiledQuery(commits_by_author, **_WEEK_PARAMETERS)
SURVEY_REVIEWS_BY_PR_AUTHOR = CompiledQuery(survey_reviews_by_pr_author, **_WEEK_PARAMETERS)


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
    week_start = monday_of(_a_date("week_start", week_start))
    with transaction.atomic():
        return _write_week(team.id, week_start)


def _a_date(name: str, value) -> dt.date:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise TypeError(f"{name} must be a datetime.date, not {value!r}")
    return value


def _write_week(team_id: int, week_start: dt.date) -> int:
    """The week's four statements and the cache bump on commit; the caller holds the transaction."""
    lower, upper = week_bounds(week_start)
    week = {"team_id": team_id, "lower": lower, "upper": upper}
    members = ACTIVE_MEMBERS_WITH_PR_FIGURES.rows(**week)
    commits = {row["author_id"]: row["commits"] for row in COMMITS_BY_AUTHOR.rows(**week)}
    reviews = {row["author_id"]: row for row in SURVEY_REVIEWS_BY_PR_AUTHOR.rows(**week)}
    rows = [_weekly_row(team_id, week_start, member, commits, reviews) for member in members]
    WeeklyMetrics.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["team", "member", "week_start"],
        update_fields=FIGURE_FIELDS,
    )
    bump_team_data_version(team_id)
    return len(rows)


# --- spans of weeks and the watermark -----------------------------------------------------------------------


def last_complete_week(today: dt.date | None = None) -> dt.date:
    """The Monday of the last week that has ended by ``today`` (default: today, UTC)."""
    today = today or dt.datetime.now(dt.UTC).date()
    return monday_of(today) - dt.timedelta(weeks=1)


@dataclass(frozen=True)
class WeekWritten:
    """One committed week of a run, as handed to ``on_week``."""

    team_id: int
    week_start: dt.date
    rows: int
    seconds: float


@dataclass(frozen=True)
class WeeksResult:
    """What ``aggregate_team_weeks`` did: the weeks in order, the rows written, the watermark after it."""

    team_id: int
    weeks: tuple[dt.date, ...]
    rows: int
    seconds: float
    through: dt.date | None  # the team's watermark after the run
    remaining: int = 0  # complete weeks a capped catch-up left for the next run


def aggregate_team_weeks(
    team: Team,
    *,
    through: dt.date | None = None,
    since: dt.date | None = None,
    today: dt.date | None = None,
    max_weeks: int | None = MAX_CATCH_UP_WEEKS,
    on_week: Callable[[WeekWritten], None] | None = None,
) -> WeeksResult:
    """Aggregate a span of the team's weeks, oldest first, one ``aggregate_team_weekly_metrics`` week each.

    ``through`` (default: the last complete week) and ``since`` may be any days: each means its week. A week
    that has not ended by ``today`` (UTC) is refused (``ValueError``): the watermark must never pass it.

    - Without ``since``, a catch-up: every week after ``team.weekly_metrics_through`` through ``through``;
      a team without a watermark starts at the week of its first merged PR or commit (one statement), or, with
      no activity at all, at ``through``. At most ``max_weeks`` (``MAX_CATCH_UP_WEEKS``; None: no cap) weeks
      per run, the oldest: ``remaining`` says how many are still due.
    - With ``since``, a rebuild of ``since``..``through``, never capped. It advances the watermark only where
      it continues it without a gap (it starts at or before the first week the watermark still lacks) and
      never moves it backwards.

    Each week commits on its own, its rows with the watermark's advance (the team's cached figures are
    invalidated on that commit): an exception part-way propagates with the weeks before it kept and the
    watermark on the last of them, so the next run resumes at the failed week. ``on_week`` is called after
    each committed week. Logs one line per run (team, weeks, rows, duration). ``team.weekly_metrics_through``
    is kept up to date in memory.
    """
    last_complete = last_complete_week(today)
    through = monday_of(_a_date("through", through)) if through is not None else last_complete
    if through > last_complete:
        raise ValueError(f"the week of {through} has not ended yet: the last complete week is that of {last_complete}")
    started = time.perf_counter()
    watermark = team.weekly_metrics_through
    first_due = watermark + dt.timedelta(weeks=1) if watermark else None
    if since is None:
        first = first_due or min(_first_active_week(team.id) or through, through)
    else:
        first = monday_of(_a_date("since", since))
        if first_due is None:  # continuous with the team's history if it starts at or before the first activity
            first_due = _first_active_week(team.id) or through
    advances = first_due is None or first <= first_due
    weeks = _mondays(first, through)
    remaining = 0
    if since is None and max_weeks is not None and len(weeks) > max_weeks:
        weeks, remaining = weeks[:max_weeks], len(weeks) - max_weeks
    done, rows = [], 0
    try:
        for week_start in weeks:
            week_started = time.perf_counter()
            with transaction.atomic():
                written = _write_week(team.id, week_start)
                if advances and (team.weekly_metrics_through is None or week_start > team.weekly_metrics_through):
                    _advance_watermark(team, week_start)
            done.append(week_start)
            rows += written
            if on_week:
                on_week(WeekWritten(team.id, week_start, written, time.perf_counter() - week_started))
    except Exception:
        logger.warning(
            "weekly metrics of team %s (%s): failed at the week of %s after %s, %d rows in %.3f s;"
            " aggregated through %s",
            team.slug, team.id, week_start, _span(done), rows, time.perf_counter() - started,
            team.weekly_metrics_through,
        )  # fmt: skip
        raise
    seconds = time.perf_counter() - started
    logger.info(
        "weekly metrics of team %s (%s): %s, %d rows in %.3f s; aggregated through %s%s",
        team.slug, team.id, _span(done), rows, seconds, team.weekly_metrics_through,
        f"; {remaining} more week(s) due" if remaining else "",
    )  # fmt: skip
    return WeeksResult(team.id, tuple(done), rows, seconds, team.weekly_metrics_through, remaining)


def _first_active_week(team_id: int) -> dt.date | None:
    """The Monday of the team's first merged PR or first commit, in one statement; None without either."""
    first_merge = (
        PullRequest.objects.filter(team_id=OuterRef("pk"), state=PullRequest.State.MERGED)
        .order_by()
        .values("team_id")
        .annotate(first=Min("merged_at"))
        .values("first")
    )
    first_commit = (
        Commit.objects.filter(team_id=OuterRef("pk"))
        .order_by()
        .values("team_id")
        .annotate(first=Min("committed_at"))
        .values("first")
    )
    # LEAST ignores NULL in PostgreSQL: the earlier of the two, or whichever exists
    first = (
        Team.objects.filter(pk=team_id)
        .annotate(first=Least(Subquery(first_merge), Subquery(first_commit)))
        .values_list("first", flat=True)
        .first()
    )
    return monday_of(first.astimezone(dt.UTC).date()) if first else None


def _advance_watermark(team: Team, week_start: dt.date) -> None:
    # GREATEST ignores NULL in PostgreSQL: the column holds the later of the two, never an earlier week
    Team.objects.filter(pk=team.pk).update(
        weekly_metrics_through=Greatest(F("weekly_metrics_through"), Value(week_start, output_field=DateField()))
    )
    previous = team.weekly_metrics_through
    team.weekly_metrics_through = max(previous, week_start) if previous else week_start


def _mondays(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(weeks=n) for n in range((last - first).days // 7 + 1)] if first <= last else []


def _span(weeks: list[dt.date]) -> str:
    if not weeks:
        return "0 weeks"
    return f"{len(weeks)} week(s) {weeks[0]}..{weeks[-1]}" if len(weeks) > 1 else f"1 week {weeks[0]}"


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
