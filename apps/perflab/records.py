"""Query records per view: the ordered statement fingerprints of every page, kept in committed files.

For each URL of the URL conf (the admin left out) a signed-in team admin requests the page through Django's
test client, at two data sizes (a generated team of ``SIZES``' members each), and the statements of that one
request, read to the end of a streamed body, are kept as their fingerprints (``capture.fingerprint``: no ids,
dates, list lengths), in order, SAVEPOINT/RELEASE and the session/axes statements left out (as the pytest
guard leaves them out). Each page is recorded cold (this run's cache keys deleted first) and warm (the same
request again). ``render()`` writes one text file per view, ``tests/query_records/<name>.txt``, and an index
of every URL with the reason a URL is not recorded (it answers a GET with 405: a form's POST target).

``tests/test_query_records.py`` regenerates the records and compares them with the committed files: a changed
join, an extra statement or a shape that differs between the sizes shows as a unified diff of that view's file.
After a deliberate change, ``make query-records`` (``manage.py query_records --update``) writes them again.

Every view should run the same statements at both sizes; each file says whether it does (``constant``) and the
test fails a view that does not.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.urls import URLPattern, URLResolver, get_resolver

from apps.perflab.capture import capture_queries, is_request_bookkeeping

RECORDS_DIR = Path(__file__).resolve().parent.parent.parent / "tests" / "query_records"
INDEX_FILE = "INDEX.txt"
REGENERATE = "make query-records (python manage.py query_records --update)"
SIZES = (("small", 5), ("large", 50))  # (label, members of the generated team)
PRS_PER_MEMBER = 8
HISTORY_DAYS = 90
SEED = 15
SKIPPED_NAMESPACES = ("admin",)  # Django's own pages; their repeats are the admin's (see test_hostile_input)
WRAP = 110


# --- the URL conf ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One URL pattern: ``name`` is ``namespace:name`` (or the route itself for an unnamed pattern)."""

    name: str
    route: str
    pattern: URLPattern
    namespace: str = ""

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(self.pattern.pattern.regex.groupindex)


def walk_urls(resolver=None, prefix: str = "", namespace: str = "") -> Iterator[Route]:
    """Every URL pattern of the URL conf (default: the site's), in the URL conf's order."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, (namespace, entry.namespace)))
            yield from walk_urls(entry, route, inner)
        elif isinstance(entry, URLPattern):
            name = ":".join(filter(None, (namespace, entry.name))) if entry.name else route
            yield Route(name, route, entry, namespace)


def team_routes(resolver=None) -> list[Route]:
    """The URL patterns that take a ``team_slug``."""
    return [route for route in walk_urls(resolver) if "team_slug" in route.parameters]


_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


def fill_route(route: str, values: dict[str, object]) -> str:
    """``/`` + the route with each ``<converter:name>`` replaced by ``values[name]``."""

    def value(match: re.Match) -> str:
        name = match[1]
        if name not in values:
            raise KeyError(f"no value for <{name}> in the route {route!r}")
        return str(values[name])

    return "/" + _PARAMETER.sub(value, route)


def recorded_routes() -> list[Route]:
    return [r for r in walk_urls() if r.namespace.split(":", 1)[0] not in SKIPPED_NAMESPACES]


# --- the data: a generated team and a signed-in admin of it, per size -----------------------------------------


@dataclass(frozen=True)
class World:
    """One size's team, its signed-in admin, and the values its URLs take."""

    label: str
    members: int
    user: object
    values: dict[str, dict[str, object]]  # URL name -> its parameters; "*" for any other URL

    def url(self, route: Route) -> str:
        return fill_route(route.route, {**self.values["*"], **self.values.get(route.name, {})})


def build_world(label: str, members: int, *, today: dt.date | None = None) -> World:
    """A generated team of ``members`` (datagen: fixed seed, the history ending yesterday, so that the pages'
    default range, the last 30 days, holds data and the newest surveys are open), its weekly rollup, a GitHub
    connection with two tracked repositories, an admin login linked to the first member, an invite and a
    survey link of another member."""
    from django.contrib.auth import get_user_model

    from apps.integrations.factories import GitHubIntegrationFactory, TrackedRepositoryFactory
    from apps.metrics.models import PRSurvey, TeamMember
    from apps.metrics.services.aggregation_service import aggregate_team_weeks
    from apps.metrics.services.survey_service import survey_link_token
    from apps.perflab.datagen import DatasetSpec, generate
    from apps.teams import invites
    from apps.teams.models import Membership, Team

    today = today or dt.datetime.now(dt.UTC).date()
    spec = DatasetSpec(
        members_per_team=members, prs_per_member=PRS_PER_MEMBER, days=HISTORY_DAYS, seed=SEED,
        end_date=today - dt.timedelta(days=1), team_slug_prefix=f"records-{label}",
    )  # fmt: skip
    team = Team.objects.get(pk=generate(spec, progress=False).team_ids[0])
    aggregate_team_weeks(team, today=today, max_weeks=None)
    GitHubIntegrationFactory(team=team, organization_slug=f"acme-{label}")
    for name in ("api", "web"):
        TrackedRepositoryFactory(team=team, name_with_owner=f"acme-{label}/{name}")
    user = get_user_model().objects.create_user(f"records-{label}", f"records-{label}@example.com")
    Membership.objects.create(user=user, team=team, role=Membership.Role.ADMIN)
    member = TeamMember.objects.filter(team=team).order_by("id").first()
    TeamMember.objects.filter(pk=member.pk).update(user=user)
    invite = invites.create_invite(team=team, created_by=user)
    # Another member's link: the page asks whether this user may say "this is me" (one statement more).
    survey = (
        PRSurvey.objects.filter(
            team=team, author__isnull=False, created_at__gt=dt.datetime.now(dt.UTC) - dt.timedelta(days=29)
        )
        .exclude(author=member)
        .order_by("-created_at", "-id")
        .first()
    )
    if survey is None:
        raise RuntimeError(f"the {label} team has no open survey of another member: change SEED or HISTORY_DAYS")
    return World(
        label=label,
        members=members,
        user=user,
        values={
            "*": {"team_slug": team.slug, "member_id": member.pk, "token": "x", "webhook_id": "x"},
            "teams:invite": {"token": invites.invite_token(invite.pk)},
            "surveys:answer": {"token": survey_link_token(survey)},
            "surveys:link_me": {"token": survey_link_token(survey)},
        },
    )


# --- one request -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestRecord:
    status: int
    fingerprints: tuple[str, ...]


def finish(response) -> bytes:
    """The whole body; a streamed one is read to its end (its statements run while it streams)."""
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def record_request(client, url: str) -> RequestRecord:
    """GET ``url``, body read to its end: the status and the fingerprints of the app's statements, in order."""
    with capture_queries(call_sites=False) as capture:
        response = client.get(url)
        finish(response)
    kept = capture.without_savepoints().where(lambda query: not is_request_bookkeeping(query.sql))
    return RequestRecord(response.status_code, tuple(query.fingerprint for query in kept.queries))


def clear_cache() -> None:
    """This run's cache keys deleted (the test run's or the command's own prefix): the next request is cold."""
    from django.core.cache import cache

    cache.delete_pattern("*")


# --- a view's record and its file ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewRecord:
    route: Route
    cold: dict[str, RequestRecord]  # size label -> record
    warm: dict[str, RequestRecord]
    members: dict[str, int]  # size label -> members

    @property
    def filename(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", ".", self.route.name).strip(".") + ".txt"

    @property
    def constant(self) -> bool:
        """The same statements at every size, cold and warm."""
        return all(len(set(records.values())) == 1 for records in (self.cold, self.warm))

    def render(self) -> str:
        sizes = ", ".join(f"{label} {n} members" for label, n in self.members.items())
        statuses = sorted({r.status for r in (*self.cold.values(), *self.warm.values())})
        verdict = "constant: the same statements at both sizes" if self.constant else "NOT CONSTANT across sizes"
        lines = [
            f"# {self.route.name}: GET /{self.route.route}",
            f"# HTTP {', '.join(map(str, statuses))}; sizes: {sizes}; {verdict}",
            "# A signed-in team admin's request, its statements in order as fingerprints (apps/perflab/capture.py),",
            "# SAVEPOINT/RELEASE and the session and axes tables left out (apps/perflab/records.py).",
            f"# Regenerate after a deliberate change: {REGENERATE}",
        ]
        lines += _section("cold (this run's cache keys deleted first)", self.cold)
        if self.warm == self.cold:
            lines += ["", "warm (the same request again): the same statements as cold"]
        else:
            lines += _section("warm (the same request again)", self.warm)
        return "\n".join(lines) + "\n"


def _section(title: str, records: dict[str, RequestRecord]) -> list[str]:
    counts = ", ".join(f"{label} {len(r.fingerprints)}" for label, r in records.items())
    distinct = list(dict.fromkeys(records.values()))
    lines = ["", f"{title}: {counts} statements"]
    if len(distinct) == 1:
        return lines + _statements(distinct[0].fingerprints)
    for label, record in records.items():
        lines += ["", f"{title} at {label}:"] + _statements(record.fingerprints)
    return lines


# Each clause on a line of its own, so that a changed join or filter is a line of the diff; a clause longer
# than WRAP goes on over indented lines.
_CLAUSE = re.compile(
    r"(?<!INNER)(?<!OUTER)(?<!LEFT)(?<!RIGHT)(?<!FULL)(?<!CROSS) (?=(?:FROM|WHERE|(?:INNER |LEFT OUTER |LEFT "
    r"|RIGHT OUTER |FULL OUTER |CROSS )?JOIN|GROUP BY|HAVING|ORDER BY|LIMIT|OFFSET|UNION(?: ALL)?|RETURNING"
    r"|ON CONFLICT|VALUES|SET) )"
)


def _statements(fingerprints: Iterable[str]) -> list[str]:
    lines = []
    for number, fingerprint in enumerate(fingerprints, 1):
        for index, clause in enumerate(_CLAUSE.split(fingerprint)):
            lead = f"{number:>3}  " if index == 0 else " " * 5
            wrapped = textwrap.wrap(clause, WRAP, break_long_words=True, break_on_hyphens=False)
            lines += [lead + wrapped[0]] + [" " * 7 + line for line in wrapped[1:]]
    return lines


def render_index(records: list[ViewRecord], not_recorded: dict[str, tuple[Route, str]]) -> str:
    by_name = {r.route.name: f"{r.filename}" for r in records}
    lines = [
        "# Every URL of the URL conf and its query record (apps/perflab/records.py); the admin's are left out.",
        f"# Regenerate after a deliberate change: {REGENERATE}",
        "",
    ]
    width = max(len(name) for name in (*by_name, *not_recorded))
    for route in recorded_routes():
        if route.name not in by_name and route.name not in not_recorded:
            continue  # a partial run (record_views with names)
        where = by_name.get(route.name) or f"not recorded: {not_recorded[route.name][1]}"
        lines.append(f"{route.name:<{width}}  /{route.route}  {where}")
    return "\n".join(lines) + "\n"


# --- every view ------------------------------------------------------------------------------------------------


def record_views(worlds: list[World], names: Iterable[str] | None = None) -> tuple[list[ViewRecord], dict]:
    """The records of every recorded route (or of ``names``), and the routes not recorded with the reason.

    Every URL is requested once first at each size, so that state a process keeps after a first request
    (nothing of the cache, which is cleared before each cold request) is the same for every recorded one.
    """
    from apps.perflab.bench import logged_in_client

    wanted = None if names is None else set(names)
    routes = [r for r in recorded_routes() if wanted is None or r.name in wanted]
    clients = {world.label: logged_in_client(world.user) for world in worlds}
    for route in routes:
        for world in worlds:
            finish(clients[world.label].get(world.url(route)))
    records, not_recorded = [], {}
    for route in routes:
        cold, warm = {}, {}
        for world in worlds:
            clear_cache()
            cold[world.label] = record_request(clients[world.label], world.url(route))
            warm[world.label] = record_request(clients[world.label], world.url(route))
        if all(r.status == 405 for r in cold.values()):
            not_recorded[route.name] = (route, "a GET answers 405 (the target of a form's POST)")
            continue
        records.append(ViewRecord(route, cold, warm, {w.label: w.members for w in worlds}))
    return records, not_recorded


def build_worlds(today: dt.date | None = None) -> list[World]:
    return [build_world(label, members, today=today) for label, members in SIZES]


def render_all(records: list[ViewRecord], not_recorded: dict) -> dict[str, str]:
    """``{file name: text}``: one file per recorded view and the index."""
    files = {record.filename: record.render() for record in records}
    files[INDEX_FILE] = render_index(records, not_recorded)
    return files


def generate_files(names: Iterable[str] | None = None) -> dict[str, str]:
    """Build both sizes' data in the current database and render every record (the caller owns the database)."""
    records, not_recorded = record_views(build_worlds(), names)
    return render_all(records, not_recorded)


def generate_in_isolated_database(database: str = "tformance_records") -> dict[str, str]:
    """``generate_files()`` in a database of its own (created, migrated, dropped after; its own cache keys), as
    the pages run outside a test: the development N+1 middleware off, the 405s' and requests' log lines kept
    off stderr."""
    import contextlib
    import logging

    from django.test.utils import override_settings

    from apps.perflab.load import load_database

    with contextlib.ExitStack() as stack:
        for name in ("django.request", "tformance.requests", "apps.metrics.services.aggregation_service"):
            logger = logging.getLogger(name)
            stack.callback(logger.setLevel, logger.level)
            logger.setLevel(logging.ERROR)
        stack.enter_context(override_settings(NPLUSONE_CHECKS=False))
        stack.enter_context(load_database(database))
        return generate_files()


# --- comparing and writing -----------------------------------------------------------------------------------


def committed_files(directory: Path = RECORDS_DIR) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(directory.glob("*.txt"))}


def differences(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """One unified diff per file that differs (committed -> as the code runs now), naming the view."""
    diffs = []
    for name in sorted(set(expected) | set(actual)):
        before, after = expected.get(name), actual.get(name)
        if before == after:
            continue
        diff = difflib.unified_diff(
            (before or "").splitlines(keepends=True),
            (after or "").splitlines(keepends=True),
            fromfile=f"committed tests/query_records/{name}" if before is not None else "(no committed record)",
            tofile=f"as the code runs now: {name}" if after is not None else "(the view is gone)",
        )
        diffs.append("".join(diff))
    return diffs


def failure_message(diffs: list[str]) -> str:
    return (
        f"{len(diffs)} query record(s) differ from tests/query_records/:\n\n"
        + "\n".join(diffs)
        + f"\nIf the change is deliberate, regenerate them: {REGENERATE}, and commit the files."
    )


def write_files(files: dict[str, str], directory: Path = RECORDS_DIR) -> list[str]:
    """Write every file, remove records of views that are gone; return the names written or removed that changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for stale in sorted(set(committed_files(directory)) - set(files)):
        (directory / stale).unlink()
        changed.append(stale)
    for name, text in files.items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(name)
    return changed
