"""The pre-fix code of each problem in the performance audit, kept to measure against.

Faithful to the audit's snippets: the loops, the per-row lookups and the per-row writes are
the point. Never imported by the app; tests and notebooks compare every shipped fix with
the baseline here on the same data (same answer), and prove each baseline's statement
count grows with its N.

| problem | baseline here |
|---|---|
| 1 team breakdown N+1 | ``get_team_breakdown``: 4 statements per member |
| 2 Copilot sync N+1 | ``sync_copilot_days``: a ``.get()`` and an ``update_or_create`` per user per day |
| 3 PR export N+1 | ``pr_export_rows``: ``pr.author`` loaded lazily per row |
| 4 cache off in development | ``get_key_metrics``: computed on every call, nothing cached |
| 5 duplicate period queries | ``get_key_metrics_comparison``: ``get_key_metrics`` twice |
| 6 missing composite indexes | ``AUDIT_INDEXES``: the candidates; the schema without them is the baseline |
| 7 weekly aggregation loop | ``aggregate_team_weekly_metrics``: 5 reads + ``update_or_create`` per member |
| 8 no API response caching | ``fetch_copilot_reports``: every day re-fetched, no conditional requests |
| 8b PR sync, row by row | ``sync_pull_requests``: REST, 2 requests per PR, ~5 statements per PR, review, commit |
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import ROUND_HALF_UP, Decimal

import httpx
from django.db.models import Avg, Count, Q, Sum

from apps.integrations.copilot_records import parse_user_day
from apps.metrics.models import (
    AIUsageDaily,
    Commit,
    PRReview,
    PRSurvey,
    PRSurveyReview,
    PullRequest,
    TeamMember,
    WeeklyMetrics,
)
from apps.metrics.services.dates import monday_of, previous_period, range_bounds
from apps.metrics.services.numbers import percent, two_places
from apps.metrics.services.percentiles import HUNDREDTHS, from_scaled, percentile_of_hundredths
from apps.metrics.services.pr_list_service import EXPORT_HEADER, export_row, filter_pull_requests


def _merged_in_range(team, start: dt.date, end: dt.date):
    lower, upper = range_bounds(start, end)
    return PullRequest.objects.filter(
        team=team, state=PullRequest.State.MERGED, merged_at__gte=lower, merged_at__lt=upper
    )


# Averages and medians of the times, in the aggregate the audited code ran anyway: no extra statement.
_TIME_FIGURES = {
    "cycle": Avg("cycle_time_hours"),
    "review": Avg("review_time_hours"),
    "median_cycle": percentile_of_hundredths(0.5, "cycle_time_hours"),
    "median_review": percentile_of_hundredths(0.5, "review_time_hours"),
}


def _medians(times: dict) -> dict:
    return {
        "median_cycle_time": from_scaled(times["median_cycle"], HUNDREDTHS),
        "median_review_time": from_scaled(times["median_review"], HUNDREDTHS),
    }


# --- problem 1 ------------------------------------------------------------------------------


def get_team_breakdown(team, start_date: dt.date, end_date: dt.date) -> list[dict]:
    """Per-member figures, one member at a time: 1 + 4 statements per member."""
    prs = _merged_in_range(team, start_date, end_date)
    rows = []
    for member in TeamMember.objects.filter(team=team).order_by("display_name", "id"):
        member_prs = prs.filter(author=member)
        prs_merged = member_prs.count()  # N+1
        if not member.is_active and prs_merged == 0:
            continue
        times = member_prs.aggregate(**_TIME_FIGURES)  # N+1
        surveys = PRSurvey.objects.filter(pull_request__in=member_prs).aggregate(  # N+1
            answered=Count("id", filter=Q(author_ai_assisted__isnull=False)),
            ai=Count("id", filter=Q(author_ai_assisted=True)),
        )
        quality = PRSurveyReview.objects.filter(survey__pull_request__in=member_prs).aggregate(  # N+1
            rating=Avg("quality_rating")
        )
        rows.append(
            {
                "member_id": member.id,
                "display_name": member.display_name,
                "github_username": member.github_username,
                "avatar_url": member.avatar_url,
                "prs_merged": prs_merged,
                "avg_cycle_time": two_places(times["cycle"]),
                "avg_review_time": two_places(times["review"]),
                **_medians(times),
                "ai_assisted_pct": percent(surveys["ai"], surveys["answered"]),
                "avg_quality_rating": two_places(quality["rating"]),
            }
        )
    return rows


# --- problem 2 ------------------------------------------------------------------------------


def group_records_by_day(records: list[dict]) -> list[dict]:
    """NDJSON user-day records in the shape the audited task looped over: ``{"day", "per_user_data"}``."""
    days: dict[str, list[dict]] = {}
    for record in records:
        days.setdefault(str(record.get("day")), []).append(record)
    return [{"day": day, "per_user_data": users} for day, users in sorted(days.items())]


def sync_copilot_days(team, days_data: list[dict]) -> dict:
    """Store each user-day: one member ``.get()`` and one ``update_or_create`` per record."""
    written = 0
    unknown: set[str] = set()
    for day_data in days_data:
        for user_data in day_data["per_user_data"]:
            user_day = parse_user_day(user_data)
            try:
                member = TeamMember.objects.get(team=team, github_username__iexact=user_day.login)  # N+1
            except TeamMember.DoesNotExist:
                unknown.add(user_day.login)
                continue
            AIUsageDaily.objects.update_or_create(  # N+1
                team=team,
                member=member,
                date=user_day.day,
                source=AIUsageDaily.Source.COPILOT,
                defaults=user_day.usage_fields(),
            )
            written += 1
    return {"rows_written": written, "unknown_logins": sorted(unknown)}


# --- problem 3 ------------------------------------------------------------------------------


def pr_export_rows(team, **filters) -> list[list[str]]:
    """The CSV rows, header first; ``pr.author`` is fetched lazily for every row."""
    prs = filter_pull_requests(team, **filters)  # no select_related("author")
    rows = [EXPORT_HEADER]
    for pr in prs.iterator():
        rows.append(export_row(pr))  # pr.author: N+1
    return rows


# --- problems 4 and 5 -----------------------------------------------------------------------


def get_key_metrics(team, start_date: dt.date, end_date: dt.date) -> dict:
    """Team figures for a range, computed on every call (the cache was off): 4 statements."""
    prs = _merged_in_range(team, start_date, end_date)
    prs_merged = prs.count()
    times = prs.aggregate(**_TIME_FIGURES)
    surveys = PRSurvey.objects.filter(pull_request__in=prs).aggregate(
        answered=Count("id", filter=Q(author_ai_assisted__isnull=False)),
        ai=Count("id", filter=Q(author_ai_assisted=True)),
    )
    quality = PRSurveyReview.objects.filter(survey__pull_request__in=prs).aggregate(rating=Avg("quality_rating"))
    return {
        "prs_merged": prs_merged,
        "avg_cycle_time": two_places(times["cycle"]),
        "avg_review_time": two_places(times["review"]),
        **_medians(times),
        "ai_assisted_pct": percent(surveys["ai"], surveys["answered"]),
        "avg_quality_rating": two_places(quality["rating"]),
    }


def get_key_metrics_comparison(team, start_date: dt.date, end_date: dt.date) -> dict:
    """This period and the one before it: the whole computation twice."""
    previous_start, previous_end = previous_period(start_date, end_date)
    return {
        "current": get_key_metrics(team, start_date, end_date),
        "previous": get_key_metrics(team, previous_start, previous_end),
    }


# --- problem 6 ------------------------------------------------------------------------------

# The audit's candidate indexes, as (model, fields). The baseline is the schema without them.
AUDIT_INDEXES = [
    ("metrics.PullRequest", ("team", "state", "merged_at")),
    ("metrics.PullRequest", ("team", "author", "merged_at")),
    ("metrics.PullRequest", ("team", "pr_created_at")),
    ("metrics.TeamMember", ("team", "github_username")),
    ("metrics.TeamMember", ("team", "is_active")),
]


# --- problem 7 ------------------------------------------------------------------------------


def aggregate_team_weekly_metrics(team, week_start: dt.date) -> int:
    """Rebuild a week's per-member rows: 5 reads and an ``update_or_create`` per active member.

    Returns the number of members written.
    """
    week_start = monday_of(week_start)
    lower, upper = range_bounds(week_start, week_start + dt.timedelta(days=6))
    written = 0
    for member in TeamMember.objects.filter(team=team, is_active=True):
        prs = PullRequest.objects.filter(
            team=team, author=member, state=PullRequest.State.MERGED, merged_at__gte=lower, merged_at__lt=upper
        )
        pr_stats = prs.aggregate(  # N+1
            merged=Count("id"),
            cycle=Avg("cycle_time_hours"),
            review=Avg("review_time_hours"),
            added=Sum("additions"),
            removed=Sum("deletions"),
            reverts=Count("id", filter=Q(is_revert=True)),
            hotfixes=Count("id", filter=Q(is_hotfix=True)),
            ai=Count("id", filter=Q(is_ai_assisted=True)),
        )
        commits = Commit.objects.filter(  # N+1
            team=team, author=member, committed_at__gte=lower, committed_at__lt=upper
        ).count()
        surveys_completed = PRSurvey.objects.filter(  # N+1
            pull_request__in=prs, author_ai_assisted__isnull=False
        ).count()
        quality = PRSurveyReview.objects.filter(survey__pull_request__in=prs).aggregate(  # N+1
            rating=Avg("quality_rating")
        )
        guesses = PRSurveyReview.objects.filter(  # N+1
            survey__pull_request__in=prs, guess_correct__isnull=False
        ).aggregate(total=Count("id"), correct=Count("id", filter=Q(guess_correct=True)))
        WeeklyMetrics.objects.update_or_create(  # N+1
            team=team,
            member=member,
            week_start=week_start,
            defaults={
                "prs_merged": pr_stats["merged"],
                "avg_cycle_time_hours": two_places(pr_stats["cycle"]),
                "avg_review_time_hours": two_places(pr_stats["review"]),
                "commits_count": commits,
                "lines_added": pr_stats["added"] or 0,
                "lines_removed": pr_stats["removed"] or 0,
                "revert_count": pr_stats["reverts"],
                "hotfix_count": pr_stats["hotfixes"],
                "ai_assisted_prs": pr_stats["ai"],
                "surveys_completed": surveys_completed,
                "avg_quality_rating": two_places(quality["rating"]),
                "guess_accuracy": percent(guesses["correct"], guesses["total"]),
            },
        )
        written += 1
    return written


# --- problem 8 ------------------------------------------------------------------------------


def fetch_copilot_reports(client, org: str, days: list[dt.date]) -> tuple[list[dict], int]:
    """Every day's per-user report, fetched in full each time: no ETag, no ``If-None-Match``.

    ``client`` is an ``httpx.Client`` whose base URL is the GitHub API. Returns the records
    and the number of HTTP requests made.
    """
    records: list[dict] = []
    requests = 0
    for day in days:
        response = client.get(f"/orgs/{org}/copilot/metrics/reports/users-1-day", params={"day": day.isoformat()})
        requests += 1
        response.raise_for_status()
        for link in response.json()["download_links"]:
            report = client.get(link)
            requests += 1
            report.raise_for_status()
            records.extend(json.loads(line) for line in report.text.splitlines() if line.strip())
    return records, requests


# --- problem 8b: the PR sync a team writes first ----------------------------------------------

_REVERT_TITLE = re.compile(r"revert\b", re.IGNORECASE)
_HOTFIX_WORD = re.compile(r"\bhot-?fix", re.IGNORECASE)
_HOTFIX_BRANCHES = ("hotfix/", "hotfix-", "hot-fix/")
_REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED")


def sync_pull_requests(team, client_or_base_url, token: str, repository: str) -> dict:
    """Every PR of ``repository`` ("owner/name") with its reviews and commits, fetched and written one by one.

    The REST list of PRs (every page, ``state=all``), then per PR one request for its reviews and one
    for its commits; per login a ``TeamMember.objects.get`` (a missing person is created there and
    then), and an ``update_or_create`` per PR, review and commit. Nothing is remembered between runs:
    everything is fetched and written again every time. ``client_or_base_url``: an ``httpx.Client``
    whose base URL is the GitHub API, or that URL. The shipped sync's rules (derived fields, bots,
    outside contributors, ghosts) are applied here too, so that both store the same rows.
    """
    own = not isinstance(client_or_base_url, httpx.Client)
    client = httpx.Client(base_url=client_or_base_url, timeout=30) if own else client_or_base_url
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}
    counts = {"pull_requests": 0, "reviews": 0, "commits": 0, "members_created": 0, "requests": 0}

    def fetch_all(url, params=None):
        items = []
        while url:
            response = client.get(url, params=params, headers=headers)
            counts["requests"] += 1
            response.raise_for_status()
            items.extend(response.json())
            url, params = response.links.get("next", {}).get("url"), None
        return items

    def member(user):
        """The member behind a REST user object; None for a deleted account (ghost) or no user."""
        if not user or user["login"].lower() == "ghost":
            return None
        login = user["login"]
        try:
            return TeamMember.objects.get(team=team, github_username__iexact=login)  # N+1
        except TeamMember.DoesNotExist:
            counts["members_created"] += 1
            return TeamMember.objects.create(  # one by one
                team=team, display_name=login, github_username=login, github_id=str(user["id"]), is_active=False,
                is_bot=user.get("type") == "Bot" or login.lower().endswith("[bot]"),
            )

    try:
        pulls = fetch_all(f"/repos/{repository}/pulls", {"state": "all", "per_page": 100})
        for pull in pulls:
            number = pull["number"]
            reviews = fetch_all(f"/repos/{repository}/pulls/{number}/reviews", {"per_page": 100})  # N+1
            commits = fetch_all(f"/repos/{repository}/pulls/{number}/commits", {"per_page": 100})  # N+1
            author = member(pull["user"])
            created_at = _rest_time(pull["created_at"])
            merged_at = _rest_time(pull["merged_at"])
            state = "merged" if merged_at else pull["state"]
            reviewed = sorted(
                _rest_time(r["submitted_at"]) for r in reviews
                if r.get("submitted_at") and r["state"] in _REVIEW_STATES and not _is_bot(r["user"])
                and (r["user"] is None or r["user"]["login"] == "ghost" or pull["user"]["login"] == "ghost"
                     or r["user"]["id"] != pull["user"]["id"])
            )
            first_review = reviewed[0] if reviewed else None
            title = pull["title"]
            branch = pull["head"]["ref"].lower()
            pr, _ = PullRequest.objects.update_or_create(  # N+1
                team=team, github_repo=repository, github_pr_id=number,
                defaults={
                    "author": author, "title": title[:500], "state": state, "pr_created_at": created_at,
                    "merged_at": merged_at, "closed_at": _rest_time(pull["closed_at"]),
                    "github_updated_at": _rest_time(pull["updated_at"]), "first_review_at": first_review,
                    "cycle_time_hours": _hours(created_at, merged_at),
                    "review_time_hours": _hours(created_at, first_review),
                    "additions": pull["additions"], "deletions": pull["deletions"],
                    "is_revert": bool(_REVERT_TITLE.match(title.strip())),
                    "is_hotfix": branch.startswith(_HOTFIX_BRANCHES) or bool(_HOTFIX_WORD.search(title)),
                },
            )
            counts["pull_requests"] += 1
            for review in reviews:
                if not review.get("submitted_at") or review["state"] not in _REVIEW_STATES:
                    continue
                PRReview.objects.update_or_create(  # N+1
                    team=team, github_review_id=review["id"],
                    defaults={"pull_request": pr, "reviewer": member(review["user"]),
                              "state": review["state"].lower(), "submitted_at": _rest_time(review["submitted_at"])},
                )
                counts["reviews"] += 1
            for commit in commits:
                Commit.objects.update_or_create(  # N+1
                    team=team, github_sha=commit["sha"],
                    defaults={"github_repo": repository, "author": member(commit["author"]), "pull_request": pr,
                              "committed_at": _rest_time(commit["commit"]["committer"]["date"]),
                              "additions": commit["stats"]["additions"], "deletions": commit["stats"]["deletions"]},
                )
                counts["commits"] += 1
    finally:
        if own:
            client.close()
    return counts


def _rest_time(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _is_bot(user: dict | None) -> bool:
    return bool(user) and (user.get("type") == "Bot" or user["login"].lower().endswith("[bot]"))


def _hours(start: dt.datetime, end: dt.datetime | None) -> Decimal | None:
    """Hours between two instants, rounded half-up to two places (the shipped rule)."""
    if end is None:
        return None
    return (Decimal(round((end - start).total_seconds() * 1_000_000)) / 3_600_000_000).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


# --- issue 13: AI impact ------------------------------------------------------------------------


def compute_ai_impact(team, start_date: dt.date, end_date: dt.date) -> dict:
    """AI impact the first way: every merged PR loaded with its author and survey, grouped, sorted in Python.

    One statement, but every row of the range crosses into Python and is sorted there; the shipped
    ``ai_impact_service.compute_ai_impact`` leaves the rows in PostgreSQL (``percentile_cont``).
    """
    groups = {"ai_assisted": [], "not_ai_assisted": [], "unanswered": []}
    for pr in _merged_in_range(team, start_date, end_date).select_related("author", "survey"):
        if pr.author is not None and pr.author.is_bot:
            continue
        try:
            answer = pr.survey.author_ai_assisted
        except PRSurvey.DoesNotExist:
            answer = None
        groups[{True: "ai_assisted", False: "not_ai_assisted", None: "unanswered"}[answer]].append(pr)
    impact = {}
    for group, prs in groups.items():
        impact[group] = {
            "prs": len(prs),
            "cycle_time": _median_and_p75([pr.cycle_time_hours for pr in prs if pr.cycle_time_hours is not None]),
            "review_time": _median_and_p75([pr.review_time_hours for pr in prs if pr.review_time_hours is not None]),
            "pr_size": _median_and_p75([pr.additions + pr.deletions for pr in prs]),
        }
    return impact


def _median_and_p75(values: list) -> dict:
    """Sorted, then interpolated linearly at ``fraction * (n - 1)``: what PostgreSQL's percentile_cont does."""
    import statistics

    values = sorted(values)
    if not values:
        return {"count": 0, "median": None, "p75": None}
    if len(values) == 1:  # Python 3.11's quantiles wants two points; one point is every percentile
        return {"count": 1, "median": two_places(values[0]), "p75": two_places(values[0])}
    _, median, p75 = statistics.quantiles(values, n=4, method="inclusive")
    return {"count": len(values), "median": two_places(median), "p75": two_places(p75)}

# --- issue 13: Copilot adoption -------------------------------------------------------------------


def compute_copilot_adoption(team, start_date: dt.date, end_date: dt.date) -> dict:
    """Copilot adoption the first way: a query per member per period, per week, and per member again.

    1 + 2 x members (cards of both periods) + weeks + members statements; the shipped
    ``copilot_adoption_service.compute_copilot_adoption`` runs two. Same definitions: active, non-bot
    members only; Copilot rows only; rates recomputed from the sums.
    """
    people = list(TeamMember.objects.filter(team=team, is_active=True, is_bot=False).order_by("display_name", "id"))
    sums = {
        "suggestions_shown": Sum("suggestions_shown"),
        "suggestions_accepted": Sum("suggestions_accepted"),
        "lines_accepted": Sum("lines_accepted"),
        "chat_interactions": Sum("chat_interactions"),
    }

    def usage(start, end, **filters):
        return AIUsageDaily.objects.filter(
            team=team, source=AIUsageDaily.Source.COPILOT, date__gte=start, date__lte=end, **filters
        )

    def totals(queryset) -> dict:
        figures = {name: value or 0 for name, value in queryset.aggregate(**sums).items()}
        figures["acceptance_rate"] = percent(figures["suggestions_accepted"], figures["suggestions_shown"])
        return figures

    def card(start, end) -> dict:
        figures = dict.fromkeys(sums, 0)
        users = 0
        for member in people:
            mine = totals(usage(start, end, member=member))
            users += mine["suggestions_shown"] > 0
            for name in sums:
                figures[name] += mine[name]
        return {
            "active_members": len(people),
            "active_users": users,
            "adoption_pct": percent(users, len(people)),
            "suggestions_shown": figures["suggestions_shown"],
            "suggestions_accepted": figures["suggestions_accepted"],
            "acceptance_rate": percent(figures["suggestions_accepted"], figures["suggestions_shown"]),
            "lines_accepted": figures["lines_accepted"],
            "chat_interactions": figures["chat_interactions"],
        }

    previous_range = previous_period(start_date, end_date)
    current, previous = card(start_date, end_date), card(*previous_range)
    change = {}
    for figure in current:
        now, before = current[figure], previous[figure]
        if now is None or before is None:
            change[figure] = {"delta": None, "percent": None}
        else:
            change[figure] = {"delta": now - before, "percent": percent(now - before, before) if before else None}

    weekly = []
    week = monday_of(start_date)
    while week <= end_date:
        days = usage(max(week, start_date), min(week + dt.timedelta(days=6), end_date), member__in=people)
        figures = totals(days)
        users = days.filter(suggestions_shown__gt=0).values("member").distinct().count()
        weekly.append({"week": week, "active_users": users, **figures})
        week += dt.timedelta(weeks=1)

    members = []
    for member in people:
        mine = usage(start_date, end_date, member=member)
        members.append(
            {
                "member_id": member.id,
                "display_name": member.display_name,
                "github_username": member.github_username,
                "avatar_url": member.avatar_url,
                **totals(mine),
                "days_active": mine.filter(suggestions_shown__gt=0).count(),
            }
        )
    return {
        "current": current,
        "previous": previous,
        "previous_range": previous_range,
        "change": change,
        "weekly": weekly,
        "members": members,
    }


# --- issue 13: the member page --------------------------------------------------------------------


def get_member_page(team, member_id: int, *, weeks: int = 104, today: dt.date | None = None) -> dict:
    """The member page the first way: figures recomputed per week from PRs and commits, lists loaded lazily.

    Per week of the range, the member's merged PRs, commits, surveys and survey reviews are aggregated
    again (6 statements a week) and their Copilot days summed (1 more); ``member.pull_requests.all()[:20]``;
    the reviews given, each loading its PR and the PR's author on access (2 statements per review). The
    shipped ``member_service.get_member_page`` reads the weekly rollup instead, in 4 statements; on weeks the
    aggregation has written, both return the same answer.
    """
    from apps.metrics.services.aggregation_service import last_complete_week
    from apps.metrics.services.member_service import (
        COPILOT_SUMS,
        PR_FIELDS,
        REVIEWED_PR_FIELDS,
        MemberNotFound,
        copilot_week,
        member_dict,
    )

    last = last_complete_week(today)
    first = last - dt.timedelta(weeks=weeks - 1)
    try:
        member = TeamMember.objects.get(team=team, pk=member_id)
    except TeamMember.DoesNotExist:
        raise MemberNotFound(member_id) from None
    week_rows, copilot_rows = [], []
    week_start = last
    while week_start >= first:  # newest first
        lower, upper = range_bounds(week_start, week_start + dt.timedelta(days=6))
        prs = PullRequest.objects.filter(
            team=team, author=member, state=PullRequest.State.MERGED, merged_at__gte=lower, merged_at__lt=upper
        )
        stats = prs.aggregate(  # N+1: per week
            merged=Count("id"), cycle=Avg("cycle_time_hours"), review=Avg("review_time_hours"),
            added=Sum("additions"), removed=Sum("deletions"),
            reverts=Count("id", filter=Q(is_revert=True)), hotfixes=Count("id", filter=Q(is_hotfix=True)),
            ai=Count("id", filter=Q(is_ai_assisted=True)),
        )
        commits = Commit.objects.filter(  # N+1
            team=team, author=member, committed_at__gte=lower, committed_at__lt=upper
        ).count()
        surveys = PRSurvey.objects.filter(pull_request__in=prs, author_ai_assisted__isnull=False).count()  # N+1
        rating = PRSurveyReview.objects.filter(survey__pull_request__in=prs).aggregate(r=Avg("quality_rating"))
        guesses = PRSurveyReview.objects.filter(  # N+1
            survey__pull_request__in=prs, guess_correct__isnull=False
        ).aggregate(total=Count("id"), correct=Count("id", filter=Q(guess_correct=True)))
        week_rows.append({
            "week_start": week_start,
            "prs_merged": stats["merged"],
            "avg_cycle_time_hours": two_places(stats["cycle"]),
            "avg_review_time_hours": two_places(stats["review"]),
            "commits_count": commits,
            "lines_added": stats["added"] or 0,
            "lines_removed": stats["removed"] or 0,
            "revert_count": stats["reverts"],
            "hotfix_count": stats["hotfixes"],
            "ai_assisted_prs": stats["ai"],
            "surveys_completed": surveys,
            "avg_quality_rating": two_places(rating["r"]),
            "guess_accuracy": percent(guesses["correct"], guesses["total"]),
        })
        usage = AIUsageDaily.objects.filter(  # N+1
            team=team, member=member, source=AIUsageDaily.Source.COPILOT,
            date__gte=week_start, date__lte=week_start + dt.timedelta(days=6),
        ).aggregate(days=Count("id"), **{field: Sum(field) for field in COPILOT_SUMS})
        if usage["days"]:
            copilot_rows.append(copilot_week({"week_start": week_start, **usage}))
        week_start -= dt.timedelta(weeks=1)
    prs = [
        {field: getattr(pr, field) for field in PR_FIELDS}
        for pr in member.pull_requests.all().order_by("-pr_created_at", "-id")[:20]
    ]
    reviews = []
    for review in member.reviews_given.filter(team=team).order_by("-submitted_at", "-id")[:20]:
        pr = review.pull_request  # N+1
        reviews.append({
            "id": review.id,
            "state": review.state,
            "submitted_at": review.submitted_at,
            "pull_request": {field: getattr(pr, field) for field in REVIEWED_PR_FIELDS},
            "pr_author": pr.author.display_name if pr.author_id else None,  # N+1
        })
    return {
        "member": member_dict({field: getattr(member, field) for field in (
            "id", "display_name", "email", "github_username", "github_id", "is_active", "is_bot", "role")}),
        "first_week": first,
        "last_week": last,
        "weeks": week_rows,
        "recent_prs": prs,
        "recent_reviews": reviews,
        "copilot_weeks": copilot_rows,
    }
