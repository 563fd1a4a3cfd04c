"""The dashboard tests' data: Alice's team Platform with PRs in the range and the period before, and Secret."""

import datetime as dt
from decimal import Decimal

from apps.metrics.factories import PRSurveyFactory, PRSurveyReviewFactory, PullRequestFactory, TeamMemberFactory
from tests.support import member_and_two_teams

START, END = dt.date(2026, 3, 2), dt.date(2026, 3, 22)  # Monday March 2 to Sunday March 22: three weeks
RANGE = {"start": START.isoformat(), "end": END.isoformat()}


def _at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def _merged(team, author, day: dt.date, *, cycle: str, lines: int = 100, **fields):
    merged_at = _at(day)
    return PullRequestFactory(
        team=team,
        author=author,
        pr_created_at=merged_at - dt.timedelta(hours=float(cycle)),
        merged_at=merged_at,
        cycle_time_hours=Decimal(cycle),
        additions=lines,
        deletions=0,
        **fields,
    )


def dashboard_world():
    """Alice belongs to Platform (with PRs in the range and the period before); Secret is someone else's."""
    alice, platform, secret = member_and_two_teams()
    ada = TeamMemberFactory(team=platform, display_name="Ada Lovelace", github_username="ada")
    bob = TeamMemberFactory(team=platform, display_name="Bob", github_username="bob")
    TeamMemberFactory(team=platform, display_name="Cy Idle", github_username="cy")  # active, no PRs
    # in the range: weeks of March 2 (two PRs) and March 16 (one); March 9 has none
    first = _merged(platform, ada, dt.date(2026, 3, 3), cycle="10", lines=5)
    _merged(platform, bob, dt.date(2026, 3, 4), cycle="20", lines=40)
    third = _merged(platform, ada, dt.date(2026, 3, 17), cycle="30", lines=1200)
    PRSurveyFactory(pull_request=first, author_ai_assisted=True)
    survey = PRSurveyFactory(pull_request=third, author_ai_assisted=False)
    PRSurveyReviewFactory(survey=survey, reviewer=bob, quality_rating=3)
    # the previous period (Feb 9 .. Mar 1): one PR
    _merged(platform, bob, dt.date(2026, 2, 20), cycle="60", lines=300)
    # someone else's team: never visible
    spy = TeamMemberFactory(team=secret, display_name="Spy")
    _merged(secret, spy, dt.date(2026, 3, 5), cycle="1", lines=1)
    return alice, platform, secret
