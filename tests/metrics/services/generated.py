"""Generated teams and merged PRs for the dashboard's service tests (dashboard, chart, AI impact, Copilot adoption)."""

import datetime as dt
import itertools

from apps.metrics.factories import PullRequestFactory
from apps.metrics.models import PullRequest
from apps.perflab.datagen import DatasetSpec, generate
from apps.teams.models import Team

END = dt.date(2025, 6, 30)  # a Monday: the last week of the history has one day
HISTORY_DAYS = 70
START = END - dt.timedelta(days=27)  # the last 28 days; the 28 before them hold data too
_prefixes = itertools.count(1)


def generated_teams(
    members: int,
    *,
    teams: int = 1,
    seed: int = 11,
    prs_per_member: int = 4,
    days: int = HISTORY_DAYS,
    end: dt.date = END,
) -> list[Team]:
    """``teams`` generated teams of ``members`` each, ``days`` of history ending on ``end``, in id order."""
    spec = DatasetSpec(
        teams=teams,
        members_per_team=members,
        prs_per_member=prs_per_member,
        days=days,
        seed=seed,
        end_date=end,
        team_slug_prefix=f"gen{next(_prefixes)}",
    )
    return list(Team.objects.filter(id__in=generate(spec, progress=False).team_ids).order_by("id"))


def generated_team(members: int, *, seed: int = 11, prs_per_member: int = 4) -> Team:
    (team,) = generated_teams(members, seed=seed, prs_per_member=prs_per_member)
    return team


def merged_on(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def merged_pr(team, author, merged_at: dt.datetime, **fields) -> PullRequest:
    return PullRequestFactory(
        team=team, author=author, pr_created_at=merged_at - dt.timedelta(hours=30), merged_at=merged_at, **fields
    )


def operation(function, *, warm: bool = False):
    """``prepare(size)`` for assert_constant_queries: a generated team; the call optionally warmed."""
    results = {}

    def prepare(size):
        team = generated_team(size)

        def operation():
            results[size] = function(team, START, END)

        if warm:
            operation()
        return operation

    return prepare, results
