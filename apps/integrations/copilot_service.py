"""Copilot usage sync: GitHub's per-user daily reports into ``AIUsageDaily``, in three statements.

``sync_copilot_metrics(team)`` replaces the audited task (``apps.perflab.baselines``: a member
``.get()`` and an ``update_or_create`` per user per day, every day fetched in full every time):

1. **Which days.** From ``since`` if given, else from the integration's ``copilot_synced_through``
   (that day again: GitHub may still add late data to it), else the last 28 days; always up to
   yesterday (UTC), the last day GitHub has processed. A day without a report (404) is skipped
   and listed in ``missing_days``; ``copilot_synced_through`` becomes the last day that had one.
2. **Fetch, conditionally.** Each day's links and NDJSON downloads go through
   ``GitHubClient`` with the team as cache scope, so each GET carries the validators of the body
   this team last *stored*: they are saved only once the transaction that wrote the rows commits.
   A 304 therefore means "already stored". When every day answers 304 the sync stops there:
   no statement at all, no write, ``copilot_synced_through`` untouched (it is already at least
   the latest of those days, since the sync that stored them advanced it), the team's cache
   version not bumped.
3. **Parse everything first.** Every record of every changed day goes through
   ``parse_user_day``; one malformed record raises ``MalformedCopilotRecord`` naming the URL and
   line, before any statement runs, and nothing is written.
4. **Write in one transaction, three statements whatever the users and days:** one member lookup
   for all logins of the run (case-insensitive: ``lower(github_username) IN (...)``, served by the
   functional unique index on ``(team, lower(github_username))``), one
   ``INSERT ... ON CONFLICT (team, member, date, source) DO UPDATE`` of every row (``UNNEST`` on
   PostgreSQL: one statement), one ``UPDATE`` of ``copilot_synced_through``. The atomic block opens
   no savepoint inside a caller's transaction: a failure there is the caller's failure too.

Logins without a member are reported (``unknown_logins``, ``unknown_count``), never stored.
Re-running writes the same rows (idempotent); a login reported twice for a day keeps its last
record. When rows were written the team's cached figures are invalidated on commit.

A 304 day is not re-written, so a member added after their days were stored gets them with
``refresh=True`` (unchanged days are written again from the cached bodies) and a ``since``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from django.db import transaction
from django.db.models import DateField, F, Value
from django.db.models.functions import Greatest, Lower, Now

from apps.integrations.copilot_records import CopilotUserDay, parse_user_day
from apps.integrations.github import Fetched, GitHubClient, NotFound
from apps.integrations.github_app import client_for
from apps.integrations.models import GitHubIntegration
from apps.metrics.models import AIUsageDaily, TeamMember
from apps.metrics.services.team_cache import bump_team_data_version

DEFAULT_WINDOW_DAYS = 28
USAGE_FIELDS = [
    "suggestions_shown",
    "suggestions_accepted",
    "lines_suggested",
    "lines_accepted",
    "chat_interactions",
    "acceptance_rate",
]


@dataclass(frozen=True)
class CopilotSyncResult:
    """What a sync did. ``requests``, ``not_modified`` (304s) and ``bytes`` are GitHub's side."""

    days_fetched: int  # days that had a report (changed or not)
    rows_written: int
    unknown_logins: tuple[str, ...]  # sorted
    unknown_count: int
    requests: int
    not_modified: int
    bytes: int
    days_changed: int = 0
    missing_days: tuple[dt.date, ...] = ()
    synced_through: dt.date | None = None

    @property
    def unchanged(self) -> bool:
        """Nothing new upstream: every fetched day answered 304."""
        return self.days_changed == 0

    def as_dict(self) -> dict:
        """JSON-ready (a Celery result)."""
        values = asdict(self)
        values["unknown_logins"] = list(self.unknown_logins)
        values["missing_days"] = [day.isoformat() for day in self.missing_days]
        values["synced_through"] = self.synced_through.isoformat() if self.synced_through else None
        return values


def sync_window(
    synced_through: dt.date | None, *, since: dt.date | None = None, today: dt.date | None = None
) -> list[dt.date]:
    """The days a sync fetches, oldest first; empty when there is nothing to ask for."""
    today = today or dt.datetime.now(dt.UTC).date()
    yesterday = today - dt.timedelta(days=1)
    if since is not None:
        start = since
    elif synced_through is not None:
        start = synced_through
    else:
        start = yesterday - dt.timedelta(days=DEFAULT_WINDOW_DAYS - 1)
    return [start + dt.timedelta(days=n) for n in range((yesterday - start).days + 1)]


def sync_copilot_metrics(
    team,
    *,
    since: dt.date | None = None,
    client: GitHubClient | None = None,
    today: dt.date | None = None,
    refresh: bool = False,
) -> CopilotSyncResult:
    """Fetch the team's Copilot days (conditionally) and store them in at most three statements.

    ``team.github_integration`` should already be loaded (``select_related``) or it costs a
    statement more. ``client`` defaults to a ``GitHubClient`` on the integration's credential
    (``github_app.client_for``: its token, or a GitHub App's installation token, refreshed by one UPDATE
    when it expires within five minutes; ``GitHubAppRefused`` when GitHub refuses the app).
    ``refresh=True`` writes unchanged days again (from the cached bodies), for instance after
    members were added. Raises the client's errors (``RateLimited``, ``GitHubUnavailable``,
    ``MalformedResponse``...) and ``MalformedCopilotRecord``, in every case with nothing written.
    """
    integration: GitHubIntegration = team.github_integration
    days = sync_window(integration.copilot_synced_through, since=since, today=today)
    if not days:
        return _result([], [], (0, 0, 0), rows=0, unknown=set(), synced_through=integration.copilot_synced_through)
    owned = client is None
    client = client or client_for(integration)
    before = (client.requests, client.not_modified, client.bytes)
    try:
        fetched, missing = _fetch(client, integration.organization_slug, days, scope=f"team:{team.pk}")
    finally:
        if owned:
            client.close()
    traffic = (client.requests - before[0], client.not_modified - before[1], client.bytes - before[2])
    to_store = [f for _, f in fetched if refresh or not f.unchanged]
    pending = [v for _, f in fetched for v in f.pending]
    if not to_store:
        client.save_validators(pending)  # new signatures on the same files: nothing to store
        synced_through = integration.copilot_synced_through
        return _result(fetched, missing, traffic, rows=0, unknown=set(), synced_through=synced_through)

    user_days = [parse_user_day(record, source=source) for f in to_store for source, record in f.sourced_records()]
    last_day = max(day for day, _ in fetched)
    members = members_by_login(team, {user_day.login.lower() for user_day in user_days})
    rows, unknown = _rows(team, user_days, members)
    with transaction.atomic(savepoint=False):
        if rows:
            AIUsageDaily.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["team", "member", "date", "source"],
                update_fields=USAGE_FIELDS,
            )
        GitHubIntegration.objects.filter(pk=integration.pk).update(
            copilot_synced_through=Greatest(F("copilot_synced_through"), Value(last_day, output_field=DateField())),
            updated_at=Now(),
        )
        transaction.on_commit(lambda: client.save_validators(pending))
        if rows:
            bump_team_data_version(team.id)
    # PostgreSQL's GREATEST ignores NULL: the column now holds the later of the two.
    previous = integration.copilot_synced_through
    integration.copilot_synced_through = max(previous, last_day) if previous else last_day
    return _result(
        fetched,
        missing,
        traffic,
        rows=len(rows),
        unknown=unknown,
        synced_through=integration.copilot_synced_through,
        changed=len(to_store),
    )


def _fetch(
    client: GitHubClient, org: str, days: list[dt.date], *, scope: str
) -> tuple[list[tuple[dt.date, Fetched]], list[dt.date]]:
    fetched, missing = [], []
    last_missing: NotFound | None = None
    for day in days:
        try:
            fetched.append((day, client.copilot_user_day_report(org, day, cache_scope=scope, save_validators=False)))
        except NotFound as exc:
            missing.append(day)
            last_missing = exc
    if not fetched and last_missing is not None:
        raise last_missing  # not one report: a wrong organisation, or the metrics API switched off
    return fetched, missing


def members_by_login(team, logins: set[str]) -> dict[str, int]:
    """Member ids by lower-cased login: one statement, on the ``(team, lower(github_username))`` index."""
    if not logins:
        return {}
    return dict(
        TeamMember.objects.filter(team=team)
        .exclude(github_username="")  # the unique index is partial: this lets the planner use it
        .annotate(login=Lower("github_username"))
        .filter(login__in=logins)
        .values_list("login", "id")
    )


def _rows(team, user_days: list[CopilotUserDay], members: dict[str, int]) -> tuple[list[AIUsageDaily], set[str]]:
    rows: dict[tuple[int, dt.date], AIUsageDaily] = {}
    unknown: set[str] = set()
    for user_day in user_days:
        member_id = members.get(user_day.login.lower())
        if member_id is None:
            unknown.add(user_day.login)
            continue
        # One row per member and day: ON CONFLICT cannot touch a row twice in one statement.
        rows[(member_id, user_day.day)] = AIUsageDaily(
            team=team,
            member_id=member_id,
            date=user_day.day,
            source=AIUsageDaily.Source.COPILOT,
            **user_day.usage_fields(),
        )
    return list(rows.values()), unknown


def _result(
    fetched: list[tuple[dt.date, Fetched]],
    missing: list[dt.date],
    traffic: tuple[int, int, int],
    *,
    rows: int,
    unknown: set[str],
    synced_through: dt.date | None,
    changed: int = 0,
) -> CopilotSyncResult:
    return CopilotSyncResult(
        days_fetched=len(fetched),
        rows_written=rows,
        unknown_logins=tuple(sorted(unknown)),
        unknown_count=len(unknown),
        requests=traffic[0],
        not_modified=traffic[1],
        bytes=traffic[2],
        days_changed=changed,
        missing_days=tuple(missing),
        synced_through=synced_through,
    )
