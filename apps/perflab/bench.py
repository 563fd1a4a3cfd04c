"""The performance budget, measured in one place: every budgeted path of docs/architecture.md.

``run_bench(quick=...)`` generates data in an isolated database, then measures each path:
statements (exact), latency (median and p95; baseline and fix alternated pair by pair), the
same answer in hand-written SQL where there is one (the floor), and each budget's verdict.
A time budget that misses is measured once more before the miss counts (``settle``); both figures stay in
the row. ``Report.verdict(gate)`` names every missed budget, gated or reported only.
``python manage.py perf_bench`` is the interface; this module holds the logic.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from django.db import connection

from apps.metrics.services.team_cache import bump_team_data_version
from apps.perflab import baselines
from apps.perflab.capture import capture_queries
from apps.perflab.datagen import DatasetSpec, generate
from apps.perflab.timing import DifferentAnswers, compare, measure, ms_text
from apps.perflab.variants import END_DATE, RANGE

RANGE_DAYS = (RANGE[1] - RANGE[0]).days + 1
# the dashboard page's (cold, warm) budgets by team size: warm, every figure comes from the versioned cache
DASHBOARD_BUDGETS_MS = {50: (50.0, 15.0), 200: (100.0, 15.0)}


@dataclass(frozen=True)
class Scale:
    name: str
    teams: int
    members: int
    prs_per_member: int
    export_rows: int
    sync_users: int
    sync_teams: int
    repeat: int
    pr_sync_prs: int = 200  # the shipped PR sync's initial run (2 reviews, 3 commits each)
    pr_sync_baseline_prs: int = 200  # the size at which baseline and shipped sync run side by side
    pr_sync_repositories: int = 1  # the initial run's PRs spread over these


QUICK = Scale(
    "quick", teams=5, members=50, prs_per_member=20, export_rows=10_000, sync_users=50, sync_teams=5, repeat=7
)
FULL = Scale(
    "default",
    teams=50,
    members=200,
    prs_per_member=100,
    export_rows=100_000,
    sync_users=500,
    sync_teams=50,
    repeat=15,
    pr_sync_prs=10_000,
    pr_sync_baseline_prs=1_000,
    pr_sync_repositories=4,
)


@dataclass
class Row:
    """One budgeted path: what was measured and whether its budgets hold."""

    path: str
    size: str
    statements: int | None
    statement_budget: str
    statements_ok: bool | None
    median_ms: float | None = None
    p95_ms: float | None = None
    time_budget: str = ""
    time_ok: bool | None = None
    baseline_statements: int | None = None
    baseline_median_ms: float | None = None
    speedup: float | None = None  # baseline / fix, median of alternated pairs
    floor_ratio: float | None = None  # fix / hand-written SQL, median of alternated pairs
    extra: dict[str, Any] = field(default_factory=dict)
    time_figure: str = ""  # what the time budget judges: "median", "fix / SQL", "throughput", "wall time"
    time_unit: str = ""  # of that figure: "ms", "s", "x", "rows/s"
    time_attempts: list[float] = field(default_factory=list)  # that figure, each time measured (settle)

    @property
    def holds(self) -> bool:
        return self.statements_ok is not False and self.time_ok is not False

    @property
    def verdict(self) -> str:
        """The table's ok column: which of the row's budgets missed."""
        missed = [kind for kind, ok in (("statements", self.statements_ok), ("time", self.time_ok)) if ok is False]
        return "yes" if not missed else "NO: " + " and ".join(missed)

    def statement_miss(self) -> str | None:
        """What missed the statement budget (None when it holds or there is none)."""
        if self.statements_ok is not False:
            return None
        if self.statement_budget == "0 writes" and "rows_written" in self.extra:
            return f"{self.extra['rows_written']} rows written against 0 writes"
        if self.statement_budget == "constant":
            return f"{_text(self.statements)} statements: not constant across sizes"
        return f"{_text(self.statements)} statements against {self.statement_budget}"

    def time_note(self) -> str | None:
        """The time figure against its budget, when it missed or was re-measured (None otherwise)."""
        figure = self.time_figure or "time"
        values = " then ".join(_figure(value, self.time_unit) for value in self.time_attempts)
        if self.time_ok is False:
            if len(self.time_attempts) > 1:
                return f"{figure} missed {_count(len(self.time_attempts))}: {values} against {self.time_budget}"
            measured = values or (f"median {ms_text(self.median_ms)}" if self.median_ms is not None else "")
            return f"{figure} {measured} against {self.time_budget}".replace("  ", " ")
        if len(self.time_attempts) > 1:
            return f"{figure} {values} against {self.time_budget}"  # missed, then held when measured again
        return None


@dataclass(frozen=True)
class Verdict:
    """Every missed budget, split by whether it decides perf_bench's exit status under ``gate``."""

    gate: str
    gated: list[str]
    reported: list[str]
    held_again: list[str]  # time budgets that missed once and held when measured again

    @property
    def passes(self) -> bool:
        return not self.gated

    @property
    def gated_kinds(self) -> str:
        return "statement and time budgets" if self.gate == "all" else "statement budgets"

    @property
    def headline(self) -> str:
        if not self.gated and not self.reported:
            return "every budget holds"
        parts = []
        if self.gated:
            parts.append(f"{_budgets(len(self.gated))} missed, gated ({self.gated_kinds}: the run fails)")
        else:
            parts.append(f"every gated budget holds ({self.gated_kinds})")
        if self.reported:
            parts.append(f"{_budgets(len(self.reported))} missed, reported only (times, on a shared machine)")
        return "; ".join(parts)

    def sections(self) -> list[tuple[str, list[str]]]:
        """(title, missed budgets) for each kind of miss there is: gated, reported only, held when re-measured."""
        sections = [
            (f"missed, gated by --gate {self.gate} ({self.gated_kinds}; a miss fails the run)", self.gated),
            ("missed, reported only (time budgets, measured on a shared machine; not gated)", self.reported),
            ("missed once, held when measured again", self.held_again),
        ]
        return [(title, items) for title, items in sections if items]

    def lines(self) -> list[str]:
        lines = [self.headline + ("." if self.passes else ":")]
        for title, items in self.sections():
            lines.append(f"{title}:")
            lines.extend(f"  - {item}" for item in items)
        return lines


@dataclass
class Report:
    scale: str
    rows: list[Row]
    seconds: float
    dataset: dict[str, int]
    gate: str = "all"  # which budgets decided perf_bench's exit status: "all" or "statements"
    server_version: str | None = None  # PostgreSQL's, as the bench's connection reported it
    cpu_count: int | None = None

    @property
    def statements_hold(self) -> bool:
        return all(row.statements_ok is not False for row in self.rows)

    @property
    def all_hold(self) -> bool:
        return all(row.holds for row in self.rows)

    def verdict(self, gate: str | None = None) -> Verdict:
        """Statement budgets are gated always; time budgets only under ``--gate all``."""
        gate = gate or self.gate
        gated, reported, held_again = [], [], []
        for row in self.rows:
            name = f"{row.path} ({row.size})"
            if (miss := row.statement_miss()) is not None:
                gated.append(f"{name}: {miss}")
            if (note := row.time_note()) is not None:
                if row.time_ok is not False:
                    held_again.append(f"{name}: {note}")
                else:
                    (gated if gate == "all" else reported).append(f"{name}: {note}")
        return Verdict(gate, gated, reported, held_again)

    def as_dict(self) -> dict:
        verdict = self.verdict()
        return {
            "scale": self.scale,
            "seconds": round(self.seconds, 1),
            "dataset": self.dataset,
            "gate": self.gate,
            "server_version": self.server_version,
            "cpu_count": self.cpu_count,
            "statements_hold": self.statements_hold,
            "all_hold": self.all_hold,
            "headline": verdict.headline,
            "missed": {"gated": verdict.gated, "reported": verdict.reported, "held_again": verdict.held_again},
            "rows": [asdict(row) for row in self.rows],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Report:
        """A report from its bench.json, older ones (fewer row fields, no gate) included."""
        names = {f.name for f in fields(Row)}
        rows = [
            Row(
                **{"path": "?", "size": "", "statements": None, "statement_budget": "", "statements_ok": None}
                | {key: value for key, value in row.items() if key in names}
            )
            for row in data.get("rows", [])
        ]
        return cls(
            scale=data.get("scale", "?"),
            rows=rows,
            seconds=data.get("seconds", 0.0),
            dataset=data.get("dataset", {}),
            gate=data.get("gate", "all"),
            server_version=data.get("server_version"),
            cpu_count=data.get("cpu_count"),
        )

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_dict(), indent=2, default=str) + "\n")

    def table(self) -> str:
        header = (
            f"{'path':<34} {'size':<18} {'stmts':>6} {'budget':<14} {'median':>10} {'time budget':<16} "
            f"{'vs base':>8} {'vs SQL':>7}  ok"
        )
        lines = [header, "-" * len(header)]
        for row in self.rows:
            lines.append(
                f"{row.path:<34} {row.size:<18} {_text(row.statements):>6} {row.statement_budget:<14} "
                f"{ms_text(row.median_ms):>10} {row.time_budget:<16} {_times(row.speedup):>8} "
                f"{_times(row.floor_ratio):>7}  {row.verdict}"
            )
        return "\n".join(lines)


def _text(value) -> str:
    return "-" if value is None else str(value)


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def _figure(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "rows/s":
        return f"{value:,.0f} rows/s"
    return f"{value:.2f} s" if unit == "s" else f"{value:.1f} {unit}".rstrip()


def _count(times: int) -> str:
    return {1: "once", 2: "twice"}.get(times, f"{times} times")


def _budgets(n: int) -> str:
    return "1 budget" if n == 1 else f"{n} budgets"


def _silent(line: str) -> None:
    pass


def settle(first: Row, again: Callable[[], Row], log: Callable[[str], None] = _silent) -> Row:
    """A row whose time budget missed is measured once more (``again``, with more repeats) before the miss counts.

    The row returned is the second measurement, carrying the budgeted figure of both in ``time_attempts``: a
    report can then say "missed twice: 55.6 ms then 53.0 ms against < 50 ms", or that it held the second time.
    """
    if first.time_ok is not False:
        return first
    log(f"  {first.path} ({first.size}): {first.time_note()}; measuring again ...")
    second = again()
    second.time_attempts = [*first.time_attempts, *second.time_attempts]
    return second


#: Loggers that print a line per request: perf_bench's page measurements go through the test client.
REQUEST_LOGGERS = {
    "tformance.requests": logging.WARNING,
    "django.request": logging.ERROR,
    "django.server": logging.ERROR,
}


@contextlib.contextmanager
def quiet_loggers(levels: dict[str, int] = REQUEST_LOGGERS) -> Iterator[None]:
    """Raise these loggers' levels for the duration of a block, and restore them after (not a global change)."""
    loggers = {logging.getLogger(name): level for name, level in levels.items()}
    saved = {logger: logger.level for logger in loggers}
    try:
        for logger, level in loggers.items():
            logger.setLevel(max(level, logger.getEffectiveLevel()))
        yield
    finally:
        for logger, level in saved.items():
            logger.setLevel(level)


def count_statements(fn: Callable[[], Any]) -> tuple[int, Any]:
    """The statements ``fn`` sends and its answer (the problem modules' one way of counting)."""
    with capture_queries(call_sites=False) as capture:
        answer = fn()
    return capture.count, answer


def require_same(path: str, *answers) -> None:
    """Raise ``DifferentAnswers`` unless every answer equals the first (the fix, its baseline, the SQL floor)."""
    first = answers[0]
    for other in answers[1:]:
        if other != first:
            raise DifferentAnswers(f"{path}: the fix and its reference answer differently")


# --- data -------------------------------------------------------------------------------------


def seed(scale: Scale, log: Callable[[str], None], *, progress: bool = True) -> dict[str, Any]:
    """The benchmark's teams: the main dataset plus teams sized for single paths."""
    specs = {
        "main": DatasetSpec(
            teams=scale.teams,
            members_per_team=scale.members,
            prs_per_member=scale.prs_per_member,
            days=90,
            seed=2026,
            end_date=END_DATE,
            team_slug_prefix="bench",
        ),
        "fifty": DatasetSpec(
            teams=1,
            members_per_team=50,
            prs_per_member=scale.prs_per_member,
            days=90,
            seed=50,
            end_date=END_DATE,
            team_slug_prefix="fifty",
        ),
        "export": DatasetSpec(
            teams=1,
            members_per_team=50,
            prs_per_member=scale.export_rows // 50,
            days=365,
            seed=7,
            end_date=END_DATE,
            team_slug_prefix="export",
        ),
        "sync": DatasetSpec(
            teams=1,
            members_per_team=scale.sync_users,
            prs_per_member=1,
            days=7,
            seed=9,
            end_date=END_DATE,
            team_slug_prefix="sync",
        ),
    }
    seeded = {}
    for name, spec in specs.items():
        log(f"seeding {name}: {spec.teams} team(s) x {spec.members_per_team} members x {spec.prs_per_member} PRs")
        seeded[name] = generate(spec, progress=progress)
    return seeded


# --- measurements -------------------------------------------------------------------------------


def bench_team_breakdown(team, size: str, repeat: int, log: Callable[[str], None] = _silent) -> Row:
    from apps.perflab import team_breakdown

    return team_breakdown.bench_row(team, size, repeat, log)


def bench_key_metrics(team, size: str, repeat: int) -> list[Row]:
    from apps.perflab import key_metrics

    return key_metrics.bench_rows(team, size, repeat)


def bench_comparison(team, size: str, repeat: int) -> list[Row]:
    """The period comparison cold; then the same statements planned as a stock PostgreSQL would, side by side
    with the planner settings every connection of the app starts with."""
    from apps.perflab import period_comparison

    return period_comparison.bench_rows(team, size, repeat)


def bench_cached_read(
    path: str,
    size: str,
    repeat: int,
    *,
    cold: Callable[[], Any],
    baseline: Callable[[], Any],
    warm: Callable[[], Any],
    cold_budget: int,
) -> list[Row]:
    """A read cached under the team's data version: cold against its baseline (same answer), then warm."""
    statements, fixed = count_statements(cold)
    baseline_statements, expected = count_statements(baseline)
    require_same(path, fixed, expected)
    versus_baseline = compare(baseline, cold, repeat=repeat)
    warm()  # fill Redis
    warm_statements, warm_answer = count_statements(warm)
    require_same(f"{path} (warm)", warm_answer, expected)
    warmed = measure(warm, repeat=repeat)
    return [
        Row(
            f"{path} (cold)",
            size,
            statements,
            f"<= {cold_budget}",
            statements <= cold_budget,
            median_ms=versus_baseline.b.median_ms,
            p95_ms=versus_baseline.b.p95_ms,
            baseline_statements=baseline_statements,
            baseline_median_ms=versus_baseline.a.median_ms,
            speedup=versus_baseline.median_ratio,
        ),
        Row(
            f"{path} (warm)",
            size,
            warm_statements,
            "0",
            warm_statements == 0,
            median_ms=warmed.median_ms,
            p95_ms=warmed.p95_ms,
        ),
    ]


def bench_ai_impact(team, size: str, repeat: int, period: tuple[dt.date, dt.date] = RANGE) -> list[Row]:
    """AI impact (issue 13): medians and p75 by survey answer in PostgreSQL, against loading and sorting in Python."""
    from apps.metrics.services import ai_impact_service

    args = (team, *period)
    return bench_cached_read(
        "AI impact",
        size,
        repeat,
        cold=lambda: ai_impact_service.compute_ai_impact(*args),
        baseline=lambda: baselines.compute_ai_impact(*args),
        warm=lambda: ai_impact_service.get_ai_impact(*args),
        cold_budget=1,
    )


def bench_copilot_adoption(team, size: str, repeat: int, period: tuple[dt.date, dt.date] = RANGE) -> list[Row]:
    """Copilot adoption (issue 13): cards of two periods, weekly trend, member table, against a loop per member."""
    from apps.metrics.services import copilot_adoption_service

    args = (team, *period)
    return bench_cached_read(
        "Copilot adoption",
        size,
        repeat,
        cold=lambda: copilot_adoption_service.compute_copilot_adoption(*args),
        baseline=lambda: baselines.compute_copilot_adoption(*args),
        warm=lambda: copilot_adoption_service.get_copilot_adoption(*args),
        cold_budget=2,
    )


def bench_export(team, rows_expected: int, log: Callable[[str], None] = _silent) -> Row:
    from apps.perflab import pr_export

    return pr_export.bench_row(team, log)


def bench_weekly_aggregation(team, size: str, repeat: int, log: Callable[[str], None] = _silent) -> Row:
    from apps.perflab import weekly_aggregation

    return weekly_aggregation.bench_row(team, size, repeat, log)


def bench_copilot_sync(team, users: int, days: int = 28, log: Callable[[str], None] = _silent) -> list[Row]:
    from apps.perflab import copilot_sync

    if days != len(copilot_sync.DAYS):
        raise ValueError(f"the Copilot sync's experiment covers {len(copilot_sync.DAYS)} days")
    return copilot_sync.bench_rows(team, users, log)


def bench_pr_sync(prs: int, baseline_prs: int, repositories: int = 1) -> list[Row]:
    """PR sync (issue 12): ``apps.perflab.prsync``'s experiment, each variant run once.

    The baseline and the shipped sync side by side at ``baseline_prs`` (one repository): the same rows,
    at least 20x fewer statements and 10x faster. The shipped sync's initial run at ``prs`` (over
    ``repositories``; at 10,000 PRs under 20 s) and its unchanged re-sync (1 request per repository, 0 writes).
    """
    from apps.perflab import prsync

    side = prsync.experiment(baseline_prs)
    if not side.same_rows:
        raise DifferentAnswers("PR sync: the shipped sync and the baseline stored different rows")
    big = prsync.experiment(prs, repositories=repositories, baseline=False) if prs != baseline_prs else side
    shipped, naive = side.shipped, side.baseline
    statement_ratio = naive.statements / max(shipped.statements, 1)
    speedup = naive.seconds / shipped.seconds
    detail = "2 reviews x 3 commits each"
    size = f"{big.prs:,} PRs, {detail}" + (f", {repositories} repositories" if repositories > 1 else "")
    timed = big.prs >= 10_000
    initial = big.shipped
    most = max(initial.page_statements, default=0)
    return [
        Row(
            "PR sync (initial)",
            size,
            initial.statements,
            "<= 8 per page",
            most <= 8,
            median_ms=initial.seconds * 1000,
            time_budget="< 20 s" if timed else "(reported)",
            time_ok=initial.seconds < 20 if timed else None,
            extra={
                "requests": initial.requests,
                "pages": initial.pages,
                "most_statements_per_page": most,
                "pull_requests": initial.pull_requests,
                "reviews": initial.reviews,
                "commits": initial.commits,
            },
            time_figure="wall time",
            time_unit="s",
            time_attempts=[initial.seconds],
        ),
        Row(
            "PR sync (vs baseline)",
            f"{side.prs:,} PRs, {detail}",
            shipped.statements,
            ">= 20x fewer",
            statement_ratio >= 20,
            median_ms=shipped.seconds * 1000,
            time_budget=">= 10x faster",
            time_ok=speedup >= 10,
            baseline_statements=naive.statements,
            baseline_median_ms=naive.seconds * 1000,
            speedup=speedup,
            extra={
                "statement_ratio": round(statement_ratio, 1),
                "requests": shipped.requests,
                "baseline_requests": naive.requests,
                "same_rows": side.same_rows,
            },
            time_figure="speed-up",
            time_unit="x",
            time_attempts=[speedup],
        ),
        Row(
            "PR sync (unchanged)",
            size,
            big.unchanged.statements,
            "0 writes",
            big.unchanged.writes == 0 and big.unchanged.requests == repositories,
            median_ms=big.unchanged.seconds * 1000,
            extra={
                "rows_written": big.unchanged.writes,
                "requests": big.unchanged.requests,
                "repositories": repositories,
            },
        ),
    ]


def logged_in_client(user):
    """Django's test client, logged in as ``user``: every page is measured through the real view and middleware."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def bench_page(
    path: str,
    size: str,
    load: Callable[[], Any],
    budget_ms: float | None,
    repeat: int,
    log: Callable[[str], None] = _silent,
    **row: Any,
) -> Row:
    """A page through the test client: its statements (session and user included), then the median of ``repeat``
    loads against ``budget_ms`` (None: reported only), measured again with twice the loads if it misses."""
    statements, _ = count_statements(load)
    budget = f"< {budget_ms:.0f} ms" if budget_ms else "(reported)"

    def measured(runs: int) -> Row:
        timing = measure(load, repeat=runs)
        return Row(
            path,
            size,
            statements,
            "constant",
            None,
            median_ms=timing.median_ms,
            p95_ms=timing.p95_ms,
            time_budget=budget,
            time_ok=timing.median_ms < budget_ms if budget_ms else None,
            time_figure="median",
            time_unit="ms",
            time_attempts=[timing.median_ms],
            **row,
        )

    return settle(measured(repeat), lambda: measured(2 * repeat), log)


def bench_dashboard_page(
    team,
    user,
    size: str,
    budget_ms: tuple[float, float] | None,
    repeat: int,
    log: Callable[[str], None] = _silent,
) -> list[Row]:
    """The whole dashboard, cold (the team's data version bumped: every cached figure recomputed) and warm;
    ``budget_ms`` is (cold, warm), None to report only."""
    client = logged_in_client(user)
    url = f"/t/{team.slug}/?start={RANGE[0]}&end={RANGE[1]}"

    def cold():
        bump_team_data_version(team.id)  # outside a transaction: at once, as after a sync's commit
        assert client.get(url).status_code == 200

    def warm():
        assert client.get(url).status_code == 200

    cold_ms, warm_ms = budget_ms or (None, None)
    return [
        bench_page("dashboard page (cold cache)", size, cold, cold_ms, repeat, log),
        bench_page("dashboard page (warm cache)", size, warm, warm_ms, repeat, log),
    ]


# --- the member page (issue 13 section 7) ----------------------------------------------------------

MEMBER_WEEKS = (26, 104)  # half a year and two years: the page's statements must not change
MEMBER_PAGE_BUDGET_MS = 30.0  # at two years of weeks
MEMBER_SERVICE_STATEMENTS = 4
MEMBER_SPEC = {"members_per_team": 8, "prs_per_member": 250, "days": 7 * 104, "seed": 104}


@dataclass(frozen=True)
class MemberHistory:
    """A small team with two years of history ending with the last complete week, and its weekly rollup."""

    team: Any
    member_id: int  # the active member with a login who authored the most PRs
    members: int
    weeks: int  # weeks aggregated (``WeeklyMetrics`` written for each active member)
    last_week: dt.date
    rows: int  # rows generated


def seed_member_history(*, prefix: str = "member", **spec: Any) -> MemberHistory:
    """Generate ``MEMBER_SPEC`` (overridable) ending on the Sunday of the last complete week, then aggregate every week.

    The member page reads the weeks ending with today's last complete week (the view has no other clock), so
    this history ends there, not at ``END_DATE``: generated afresh it is the same data shifted by whole weeks.
    """
    from django.db.models import Count

    from apps.metrics.models import PullRequest, TeamMember
    from apps.metrics.services.aggregation_service import aggregate_team_weekly_metrics, last_complete_week
    from apps.teams.models import Team

    spec = MEMBER_SPEC | spec
    last = last_complete_week()  # today's, as the view's
    seeded = generate(
        DatasetSpec(teams=1, end_date=last + dt.timedelta(days=6), team_slug_prefix=prefix, **spec), progress=False
    )
    team = Team.objects.get(pk=seeded.team_ids[0])
    weeks = spec["days"] // 7
    for n in range(weeks):
        aggregate_team_weekly_metrics(team, last - dt.timedelta(weeks=n))
    authors = (
        PullRequest.objects.filter(team=team, author__is_active=True, author__is_bot=False)
        .exclude(author__github_username="")
        .values("author_id")
        .annotate(prs=Count("id"))
        .order_by("-prs", "author_id")
    )
    return MemberHistory(
        team=team,
        member_id=authors[0]["author_id"],
        members=TeamMember.objects.filter(team=team).count(),
        weeks=weeks,
        last_week=last,
        rows=seeded.total_rows,
    )


def bench_member_page(
    history: MemberHistory,
    user,
    repeat: int,
    log: Callable[[str], None] = _silent,
    weeks: tuple[int, ...] = MEMBER_WEEKS,
) -> list[Row]:
    """One member's page at each of ``weeks``: the service against the per-week baseline (same answer, statements,
    alternated medians), and the page through the real view (the service's statements plus session, user and team).

    The service must stay within ``MEMBER_SERVICE_STATEMENTS`` and both must be constant across ``weeks``; the page's
    time budget applies at two years of weeks (104).
    """
    from django.urls import reverse

    from apps.metrics.services import member_service

    team, member_id = history.team, history.member_id
    client = logged_in_client(user)
    rows: list[Row] = []
    for count in weeks:
        size = f"{count} weeks"
        budget_ms = MEMBER_PAGE_BUDGET_MS if count >= 104 else None

        def shipped(count=count):
            return member_service.get_member_page(team, member_id, weeks=count)

        def baseline(count=count):
            return baselines.get_member_page(team, member_id, weeks=count)

        url = reverse("metrics:member", args=[team.slug, member_id]) + f"?weeks={count}"

        def load(url=url):
            assert client.get(url).status_code == 200

        statements, fixed = count_statements(shipped)
        baseline_statements, expected = count_statements(baseline)
        require_same("member page", fixed, expected)
        versus_baseline = compare(baseline, shipped, repeat=max(3, repeat // 3), warmup=1)
        service = measure(shipped, repeat=repeat)
        figures = {
            "weeks_with_rows": len(fixed["weeks"]),
            "copilot_weeks": len(fixed["copilot_weeks"]),
            "recent_prs": len(fixed["recent_prs"]),
            "recent_reviews": len(fixed["recent_reviews"]),
        }
        rows.append(
            Row(
                "get_member_page",
                size,
                statements,
                f"<= {MEMBER_SERVICE_STATEMENTS}",
                None,
                median_ms=service.median_ms,
                p95_ms=service.p95_ms,
                time_budget="(reported)",
                baseline_statements=baseline_statements,
                baseline_median_ms=versus_baseline.a.median_ms,
                speedup=versus_baseline.median_ratio,
                extra=figures,
            )
        )
        rows.append(
            bench_page(
                "member page",
                size,
                load,
                budget_ms,
                repeat,
                log,
                extra={
                    **figures,
                    "service_statements": statements,
                    "added_by_the_page": "session, user, team (access check)",
                },
            )
        )
    check_constant(rows, "get_member_page", most=MEMBER_SERVICE_STATEMENTS)
    check_constant(rows, "member page")
    return rows


def check_constant(rows: list[Row], path: str, *, most: int | None = None) -> None:
    """A path's statements must be equal at every size measured (and, given ``most``, at most that many)."""
    counts = {row.statements for row in rows if row.path == path}
    for row in rows:
        if row.path == path:
            row.statements_ok = len(counts) == 1 and (most is None or row.statements <= most)


def bench_sync_connections(teams, log) -> Row:
    """PostgreSQL connections used while syncing many teams, a task each, without and with the pool."""
    from apps.integrations.copilot_service import sync_copilot_metrics
    from apps.integrations.github import GitHubClient
    from apps.integrations.models import GitHubIntegration
    from apps.perflab.github_stub import GitHubStub

    today = END_DATE + dt.timedelta(days=1)
    window = [END_DATE - dt.timedelta(days=n) for n in range(7)][::-1]

    def backend_pid() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]

    def run_all(github) -> int:
        """Distinct server processes (connections) the syncs ran on, one task per team."""
        pids = set()
        for team in teams:
            GitHubIntegration.objects.update_or_create(team=team, defaults={"organization_slug": "bench"})
            with GitHubClient(base_url=github.base_url, token="bench") as client:
                sync_copilot_metrics(team, since=window[0], client=client, today=today)
            pids.add(backend_pid())
            connection.close()  # what Celery does after each task
        return len(pids)

    options = connection.settings_dict["OPTIONS"]
    pool = options.get("pool")
    with GitHubStub(org="bench") as github:
        github.set_users([f"user{i}" for i in range(20)], window, seed=3)
        connection.close()  # back to the pool (if any) before switching it off
        options.pop("pool", None)
        try:
            without_pool = run_all(github)
        finally:
            connection.close()  # a plain connection, really closed, before the pool returns
            if pool:
                options["pool"] = pool
        with_pool = run_all(github) if pool else without_pool
    return Row(
        "connections opened by N syncs",
        f"{len(teams)} teams",
        None,
        "",
        None,
        extra={"without_pool": without_pool, "with_pool": with_pool},
        time_budget=f"{without_pool} -> {with_pool} conns",
    )


# --- for the notebooks -----------------------------------------------------------------------------

NEW_READS = ("AI impact (cold)", "Copilot adoption (cold)", "get_member_page")  # issue 13's reads


def statements_vs_baseline(report: Report, paths: tuple[str, ...] = NEW_READS):
    """A DataFrame of ``path, size, baseline, fix`` (statements) for the report's rows of ``paths``, in the report's
    order: each read at every size it was measured, beside its baseline."""
    import pandas as pd

    return pd.DataFrame(
        [(row.path, row.size, row.baseline_statements, row.statements) for row in report.rows if row.path in paths],
        columns=["path", "size", "baseline", "fix"],
    ).astype({"baseline": "Int64", "fix": "Int64"})


# --- the whole run --------------------------------------------------------------------------------


def run_bench(*, quick: bool, log: Callable[[str], None] = print, progress: bool = True) -> Report:
    """Every budgeted path, measured; the request loggers are quiet meanwhile (the pages go through the test client),
    and the development N+1 middleware is off: pages are timed as production serves them."""
    from django.test import override_settings

    with quiet_loggers(), override_settings(NPLUSONE_CHECKS=False):
        return _run_bench(QUICK if quick else FULL, log, progress)


def _run_bench(scale: Scale, log: Callable[[str], None], progress: bool) -> Report:
    from django.contrib.auth import get_user_model

    from apps.teams.models import Membership, Team

    started = time.perf_counter()
    seeded = seed(scale, log, progress=progress)
    dataset = {name: sum(result.row_counts.values()) for name, result in seeded.items()}
    log(
        f"seeding member: 1 team x {MEMBER_SPEC['members_per_team']} members x {MEMBER_SPEC['prs_per_member']} PRs"
        f" over {MEMBER_SPEC['days'] // 7} weeks, and its weekly rollup"
    )
    history = seed_member_history()
    dataset["member"] = history.rows
    main_team = Team.objects.get(pk=seeded["main"].team_ids[0])
    fifty_team = Team.objects.get(pk=seeded["fifty"].team_ids[0])
    user = get_user_model().objects.create_user("bench", password="bench-password-1")
    Membership.objects.bulk_create([Membership(user=user, team_id=t.id) for t in (main_team, fifty_team, history.team)])
    size = f"{scale.members} members"
    small = f"{history.members} members"  # the member page's team: the reads of issue 13 at a second size
    last_day = history.last_week + dt.timedelta(days=6)
    recent = (last_day - dt.timedelta(days=RANGE_DAYS - 1), last_day)
    rows: list[Row] = []
    steps = [
        (
            "team breakdown",
            lambda: (
                [bench_team_breakdown(fifty_team, "50 members", scale.repeat, log)]
                + ([bench_team_breakdown(main_team, size, scale.repeat, log)] if scale.members != 50 else [])
            ),
        ),
        ("key metrics", lambda: bench_key_metrics(main_team, size, scale.repeat)),
        ("period comparison", lambda: bench_comparison(main_team, size, scale.repeat)),
        (
            "AI impact",
            lambda: (
                bench_ai_impact(history.team, small, scale.repeat, recent)
                + bench_ai_impact(main_team, size, scale.repeat)
            ),
        ),
        (
            "Copilot adoption",
            lambda: (
                bench_copilot_adoption(history.team, small, scale.repeat, recent)
                + bench_copilot_adoption(main_team, size, scale.repeat)
            ),
        ),
        (
            "PR export",
            lambda: [bench_export(Team.objects.get(pk=seeded["export"].team_ids[0]), scale.export_rows, log)],
        ),
        (
            "Copilot sync",
            lambda: bench_copilot_sync(Team.objects.get(pk=seeded["sync"].team_ids[0]), scale.sync_users, log=log),
        ),
        ("PR sync", lambda: bench_pr_sync(scale.pr_sync_prs, scale.pr_sync_baseline_prs, scale.pr_sync_repositories)),
        ("weekly aggregation", lambda: [bench_weekly_aggregation(main_team, size, scale.repeat, log)]),
        (
            "dashboard page",
            lambda: (
                bench_dashboard_page(fifty_team, user, "50 members", DASHBOARD_BUDGETS_MS[50], scale.repeat, log)
                + (
                    bench_dashboard_page(
                        main_team, user, size, DASHBOARD_BUDGETS_MS.get(scale.members), scale.repeat, log
                    )
                    if scale.members != 50
                    else []
                )
            ),
        ),
        ("member page", lambda: bench_member_page(history, user, scale.repeat, log)),
        (
            "sync connections",
            lambda: [
                bench_sync_connections(
                    list(Team.objects.filter(pk__in=seeded["main"].team_ids)[: scale.sync_teams]), log
                )
            ],
        ),
    ]
    for label, step in steps:
        log(f"measuring {label} ...")
        rows.extend(step())
    # Constant across sizes, and within the path's budget (a check of constancy alone would pass 3 statements
    # at every size, or anything at all where a quick run measures a path at one size only).
    for path, most in (
        ("get_team_breakdown", 2),
        ("dashboard page (cold cache)", None),
        ("dashboard page (warm cache)", None),
        ("AI impact (cold)", 1),
        ("Copilot adoption (cold)", 2),
    ):
        check_constant(rows, path, most=most)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (server_version,) = cursor.fetchone()
    return Report(
        scale=scale.name,
        rows=rows,
        seconds=time.perf_counter() - started,
        dataset=dataset,
        server_version=server_version,
        cpu_count=os.cpu_count(),
    )
