"""Deterministic, realistic tformance data at scale, bulk-loaded with binary COPY.

``generate(DatasetSpec(...))`` writes teams, members, pull requests, reviews, commits, PR
surveys, survey reviews and daily Copilot usage in one transaction and returns what it
wrote. The same spec always yields the same rows: every value comes from one
``numpy.random.default_rng(seed)`` and every timestamp from ``spec.end_date`` and
``spec.as_of``, never from the clock (only the default of ``as_of`` reads it, when the
history reaches today). Primary keys differ between databases (they come from each table's
sequence); natural keys and all other values do not.

``as_of`` is the moment the data is generated at: nothing lies after it. The history is
drawn through the end date's last second, then seen as of that moment: what would happen
later has not happened yet. A PR created later does not exist; one whose merge or close
would come later is still open (no merged_at, no cycle time); reviews, commits, survey
answers and survey reviews still to come are not there, and a PR's line counts are those of
its commits so far (at least the one it was opened from); Copilot usage exists for whole
days only (the day's report is known once it is over). With the default ``as_of`` and an end
date in the past, nothing is withheld.

Everything is generated as numpy columns (no per-row Python beyond the members), rows
refer to their parents by position (`Ref`), and the loader turns positions into ids by
reserving one block of ids per table before copying, so no row needs a round-trip.

Shapes worth knowing when reading charts built on this data:

- About 10% of members are inactive (they left part-way: their PRs all predate leaving) and
  10% have no GitHub login; those have no PRs, reviews, commits or Copilot usage. The
  first two members of every team are active with a login, so every PR can be reviewed.
- PRs per member are lognormally uneven; 70% merged, 20% open, 10% closed; 1% lost their
  author (a deleted GitHub account). Cycle times are lognormal (median about 20 hours,
  shorter for AI-assisted PRs); AI assistance and Copilot usage grow over the period.
- Reviewers are other active members of the team; survey reviewers are the PR's reviewers.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
from django.db import DatabaseError, connection, transaction
from django.db.models import Model
from tqdm import tqdm

from apps.metrics.models import (
    AIUsageDaily,
    Commit,
    PRReview,
    PRSurvey,
    PRSurveyReview,
    PullRequest,
    TeamMember,
)
from apps.perflab.pgcopy import Text, copy_columns
from apps.teams.models import Team

DAY = 86_400
HOUR = 3_600
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MAX_LENGTH = Team._meta.get_field("slug").max_length
LOAD_ORDER: tuple[type[Model], ...] = (
    Team, TeamMember, PullRequest, PRReview, Commit, PRSurvey, PRSurveyReview, AIUsageDaily,
)

INACTIVE_SHARE = 0.10
NO_LOGIN_SHARE = 0.10
ANCHOR_SEATS = 2  # the first seats of a team are always active with a login
AUTHORLESS_SHARE = 0.01
PR_STATES = ("open", "merged", "closed")
PR_STATE_SHARES = (0.20, 0.70, 0.10)
OPEN, MERGED, CLOSED = range(3)
REVIEWS_IF_MERGED = ((1, 2, 3), (0.45, 0.35, 0.20))
REVIEWS_OTHERWISE = ((0, 1, 2, 3), (0.40, 0.35, 0.18, 0.07))
MAX_REVIEWS = 3
REVIEW_STATES = ("approved", "changes_requested", "commented")
COMMITS_PER_PR = ((1, 2, 3, 4, 5), (0.25, 0.30, 0.20, 0.15, 0.10))
DIRECT_COMMIT_SHARE = 0.15  # commits pushed outside any PR, relative to PR commits
SURVEY_SHARE = 0.60
SURVEY_ANSWERED_SHARE = 0.80
SURVEY_HONEST_SHARE = 0.90
QUALITY_SHARES = (0.12, 0.48, 0.40)  # ratings 1, 2, 3
WEEKEND_WEIGHT = 0.12

FIRST_NAMES = (
    "Aaliyah", "Aarav", "Ada", "Adrian", "Aiko", "Alejandro", "Amara", "Amelia", "Ana", "Andrei",
    "Anika", "Arjun", "Astrid", "Ben", "Bilal", "Camille", "Carlos", "Chen", "Chloe", "Daniel",
    "Deepa", "Diego", "Elena", "Emeka", "Emma", "Farah", "Felix", "Fatima", "Gabriel", "Grace",
    "Hana", "Hugo", "Ines", "Isaac", "Ivan", "Jamal", "Jana", "Javier", "Jin", "Jonas", "Julia",
    "Kai", "Kavya", "Kenji", "Lara", "Leila", "Leo", "Liam", "Lina", "Lucas", "Maya", "Mei",
    "Mateo", "Nadia", "Nia", "Noah", "Olga", "Omar", "Priya", "Rafael", "Rosa", "Sami", "Sara",
    "Sofia", "Tariq", "Thandiwe", "Tomas", "Valentina", "Wei", "Yara", "Yusuf", "Zoe",
)
LAST_NAMES = (
    "Abe", "Adeyemi", "Alvarez", "Andersen", "Bauer", "Bianchi", "Brown", "Chen", "Cohen", "Costa",
    "Das", "Dubois", "Eriksson", "Fernandez", "Fischer", "Garcia", "Gupta", "Haddad", "Hansen",
    "Ivanova", "Jansen", "Kaur", "Kim", "Kowalski", "Kumar", "Laine", "Lee", "Lopez", "Martin",
    "Meyer", "Mensah", "Moreau", "Murphy", "Nakamura", "Nguyen", "Novak", "Okafor", "Olsen",
    "Patel", "Perez", "Petrov", "Popescu", "Rossi", "Sato", "Schmidt", "Silva", "Singh", "Smith",
    "Suzuki", "Tanaka", "Taylor", "Torres", "Van Dijk", "Wang", "Weber", "Williams", "Wong",
    "Yamamoto", "Yilmaz", "Zhang",
)
REPO_NAMES = (
    "api", "web", "mobile", "infra", "auth-service", "billing", "data-pipeline", "search",
    "notifications", "design-system", "admin", "docs", "gateway", "analytics", "ml-platform",
)
TITLE_VERBS = (
    "Add", "Fix", "Refactor", "Update", "Remove", "Improve", "Speed up", "Document", "Test",
    "Migrate", "Simplify", "Harden",
)
TITLE_SUBJECTS = (
    "pagination on the PR list", "login redirect", "rate limiting", "CSV export",
    "webhook retries", "dashboard caching", "flaky integration test", "dependency versions",
    "team settings page", "error messages", "database indexes", "onboarding flow",
    "search ranking", "invoice emails", "feature flags", "session timeout", "audit log",
    "API pagination", "dark mode", "mobile layout", "permissions check", "background jobs",
    "metrics aggregation", "Copilot sync", "survey reminders", "timezone handling",
    "N+1 queries in reports", "logging format", "health checks", "build pipeline",
)
TITLES = tuple(f"{verb} {subject}" for verb in TITLE_VERBS for subject in TITLE_SUBJECTS)
PLAIN_TITLE, HOTFIX_TITLE, REVERT_TITLE = range(3)
TITLE_VOCABULARY = (
    TITLES + tuple(f"Hotfix: {title}" for title in TITLES) + tuple(f'Revert "{title}"' for title in TITLES)
)
REVERT_SHARE = 0.02
HOTFIX_SHARE = 0.04


class SlugCollisionError(Exception):
    """A team slug the spec would create already exists; nothing was written."""


@dataclass(frozen=True)
class DatasetSpec:
    """What to generate. Pass ``end_date`` explicitly when the data must be reproducible.

    ``as_of`` (timezone-aware) is the moment the data is generated at; nothing generated lies
    after it. It defaults to the end of the end date's day (the midnight after it) or now,
    whichever is earlier: a past end date keeps its whole history, today's stops at the clock.
    Pass it explicitly to reproduce a history that reaches today. ``dataclasses.replace``
    keeps it: pass ``as_of=None`` there along with a new ``end_date`` to derive it afresh.
    """

    teams: int = 1
    members_per_team: int = 50
    prs_per_member: int = 20
    days: int = 90
    seed: int = 42
    end_date: date = field(default_factory=lambda: datetime.now(UTC).date())
    team_slug_prefix: str = "demo"
    as_of: datetime | None = None  # None: resolved as described above, when the spec is made

    def __post_init__(self) -> None:
        self._require_int("teams", minimum=1)
        # Every PR needs a reviewer who is not its author.
        self._require_int("members_per_team", minimum=ANCHOR_SEATS)
        self._require_int("prs_per_member", minimum=1)
        self._require_int("days", minimum=1)
        self._require_int("seed", minimum=0)
        if not isinstance(self.end_date, date) or isinstance(self.end_date, datetime):
            raise ValueError(f"end_date must be a datetime.date, not {self.end_date!r}")
        self._resolve_as_of()
        prefix = self.team_slug_prefix
        if not isinstance(prefix, str) or not SLUG_PATTERN.match(prefix):
            raise ValueError(
                f"team_slug_prefix {prefix!r} must be lowercase letters and digits,"
                " optionally separated by single hyphens"
            )
        if len(self.team_slugs[-1]) > SLUG_MAX_LENGTH:
            raise ValueError(f"team_slug_prefix is too long for {SLUG_MAX_LENGTH}-character slugs")

    def _resolve_as_of(self) -> None:
        as_of = self.as_of
        if as_of is None:
            as_of = min(self.history_end, datetime.now(UTC))
        elif not isinstance(as_of, datetime) or as_of.utcoffset() is None:
            raise ValueError(f"as_of must be a timezone-aware datetime, not {as_of!r}")
        as_of = as_of.astimezone(UTC)
        history_start = datetime.combine(self.start_date, datetime.min.time(), tzinfo=UTC)
        if as_of < history_start:
            raise ValueError(f"as_of {as_of.isoformat()} precedes the history, which starts on {self.start_date}")
        object.__setattr__(self, "as_of", as_of)  # frozen: set once, here

    def _require_int(self, name: str, *, minimum: int) -> None:
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, not {value!r}")
        if value < minimum:
            raise ValueError(f"{name} must be at least {minimum}, not {value}")

    @property
    def team_slugs(self) -> list[str]:
        return [f"{self.team_slug_prefix}-{index}" for index in range(1, self.teams + 1)]

    @property
    def start_date(self) -> date:
        return self.end_date - timedelta(days=self.days - 1)

    @property
    def history_end(self) -> datetime:
        """The end of the end date's day: the midnight after it (exclusive)."""
        return datetime.combine(self.end_date + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


@dataclass(frozen=True)
class SeedResult:
    spec: DatasetSpec
    team_ids: tuple[int, ...]
    team_slugs: tuple[str, ...]
    row_counts: dict[str, int]  # model name -> rows written, in load order
    seconds: float
    foreign_key_checks_skipped: bool

    @property
    def total_rows(self) -> int:
        return sum(self.row_counts.values())


def generate(spec: DatasetSpec, *, progress: bool = True, analyze: bool = True) -> SeedResult:
    """Write the dataset ``spec`` describes, all or nothing; progress bars go to stderr.

    ``analyze=False`` leaves the planner's statistics as they were (notebook 11 makes them lie on purpose)."""
    started = time.perf_counter()
    with transaction.atomic():
        _refuse_existing_slugs(spec.team_slugs)
        tables = build_tables(spec, progress=progress)
        first_ids, skipped = _load(tables, progress=progress, analyze=analyze)
    team_count = len(tables[Team]["slug"])
    return SeedResult(
        spec=spec,
        team_ids=tuple(range(first_ids[Team], first_ids[Team] + team_count)),
        team_slugs=tuple(spec.team_slugs),
        row_counts={model.__name__: _row_count(tables[model]) for model in LOAD_ORDER},
        seconds=time.perf_counter() - started,
        foreign_key_checks_skipped=skipped,
    )


def _refuse_existing_slugs(slugs: list[str]) -> None:
    taken = sorted(Team.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    if taken:
        shown = ", ".join(taken[:5]) + (", ..." if len(taken) > 5 else "")
        raise SlugCollisionError(
            f"{len(taken)} team slug(s) already exist ({shown}): choose another prefix"
            " or delete those teams first"
        )


# --- building the tables ----------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """Rows of another generated table by position (-1 = NULL); the loader makes them ids."""

    model: type[Model]
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


Table = dict[str, object]


@dataclass(frozen=True)
class Timeline:
    """The history: ``days`` whole UTC days ending with the spec's end date, seen at ``as_of``."""

    start: int  # epoch seconds of the first midnight
    days: int
    as_of: int  # epoch seconds of the spec's as_of, rounded down: moments up to it are known

    @classmethod
    def of(cls, spec: DatasetSpec) -> Timeline:
        midnight = datetime.combine(spec.start_date, datetime.min.time(), tzinfo=UTC)
        as_of = (spec.as_of - EPOCH) // timedelta(seconds=1)
        return cls(start=int(midnight.timestamp()), days=spec.days, as_of=as_of)

    @property
    def end(self) -> int:
        """Exclusive: the midnight after the end date. Nothing happens at or after it."""
        return self.start + self.days * DAY

    @property
    def weekdays(self) -> np.ndarray:
        """Day-of-week (Monday = 0) of each day of the history."""
        first = datetime.fromtimestamp(self.start, UTC).weekday()
        return (first + np.arange(self.days)) % 7

    def fraction(self, seconds: np.ndarray) -> np.ndarray:
        """How far into the history each moment is, 0..1."""
        return np.clip((seconds - self.start) / (self.end - self.start), 0.0, 1.0)


def build_tables(spec: DatasetSpec, *, progress: bool = False) -> dict[type[Model], Table]:
    """All rows as numpy columns, parents referenced by position; no database access.

    The draws happen in a fixed order (that order is part of the determinism); PR tables are
    built last because reviews cap their review counts and commits sum up their line counts.
    No random draw depends on ``as_of``: the whole history is drawn, then seen as of that
    moment (``see_as_of``, ``_seen_as_of``), so an earlier ``as_of`` shows the same history
    with less of it happened.
    """
    rng = np.random.default_rng(spec.seed)
    timeline = Timeline.of(spec)
    with tqdm(total=7, desc="generating", unit="step", disable=not progress) as steps:
        members = _Members.draw(rng, spec, timeline)
        steps.update()
        prs = _PullRequests.draw(rng, spec, timeline, members)
        steps.update()
        reviews = _Reviews.draw(rng, prs, members)
        steps.update()
        commits = _commits(rng, spec, timeline, prs)
        steps.update()
        surveys = _Surveys.draw(rng, timeline, prs)
        steps.update()
        survey_reviews = _survey_reviews(rng, timeline, surveys, prs, reviews)
        steps.update()
        ai_usage = _ai_usage(rng, timeline, members)
        steps.update()
    prs.see_as_of(timeline.as_of, reviews, commits)
    surveys.see_as_of(timeline.as_of, survey_reviews)
    return _seen_as_of(timeline.as_of, {
        Team: _teams(spec, timeline),
        TeamMember: members.table(),
        PullRequest: prs.table(),
        PRReview: reviews.table(prs),
        Commit: commits,
        PRSurvey: surveys.table(prs),
        PRSurveyReview: survey_reviews,
        AIUsageDaily: ai_usage,
    })


def _teams(spec: DatasetSpec, timeline: Timeline) -> Table:
    slugs = spec.team_slugs
    prefix = spec.team_slug_prefix.replace("-", " ").capitalize()
    return {
        "name": [f"{prefix} team {index}" for index in range(1, len(slugs) + 1)],
        "slug": slugs,
        "created_at": _moments(np.full(len(slugs), timeline.start - 730 * DAY)),
    }


@dataclass
class _Members:
    team: np.ndarray
    seat: np.ndarray
    first: np.ndarray
    last: np.ndarray
    has_login: np.ndarray
    is_active: np.ndarray
    available_days: np.ndarray  # days of the history they were around (inactive: until they left)
    pr_weight: np.ndarray
    ai_propensity: np.ndarray  # 0..1: how much they lean on AI assistance
    acceptance: np.ndarray  # their typical Copilot acceptance rate
    role: np.ndarray
    github_id: np.ndarray
    joined: np.ndarray
    slugs: list[str]

    @classmethod
    def draw(cls, rng: np.random.Generator, spec: DatasetSpec, timeline: Timeline) -> _Members:
        teams, size = spec.teams, spec.members_per_team
        count = teams * size
        first = rng.integers(0, len(FIRST_NAMES), count)
        last = rng.integers(0, len(LAST_NAMES), count)
        has_login = ~_exact_share_per_team(rng, teams, size, NO_LOGIN_SHARE)
        is_active = ~_exact_share_per_team(rng, teams, size, INACTIVE_SHARE)
        left_after = rng.uniform(0.2, 0.7, count)
        available = np.where(is_active, timeline.days, np.maximum(1, left_after * timeline.days))
        available = available.astype(np.int64)
        activity = rng.lognormal(0.0, 0.8, count)
        roles = rng.choice(3, size=count, p=(0.88, 0.08, 0.04))
        roles[np.arange(count) % size == 0] = 1  # every team has a lead
        return cls(
            team=np.repeat(np.arange(teams), size),
            seat=np.tile(np.arange(size), teams),
            first=first,
            last=last,
            has_login=has_login,
            is_active=is_active,
            available_days=available,
            pr_weight=activity * has_login * (available / timeline.days),
            ai_propensity=rng.beta(2.0, 2.5, count),
            acceptance=rng.beta(6.0, 12.0, count),
            role=roles,
            github_id=1_000_000 + np.cumsum(rng.integers(1, 5_000, count)),
            joined=timeline.start - rng.integers(30, 730, count) * DAY,
            slugs=spec.team_slugs,
        )

    def __len__(self) -> int:
        return len(self.team)

    def table(self) -> Table:
        usernames, emails = self._handles()
        github_ids = [str(value) if login else "" for value, login in
                      zip(self.github_id.tolist(), self.has_login.tolist(), strict=True)]
        return {
            "team_id": Ref(Team, self.team),
            "display_name": [f"{FIRST_NAMES[f]} {LAST_NAMES[s]}" for f, s in self._name_pairs()],
            "email": emails,
            "github_username": np.where(self.has_login, usernames, "").tolist(),
            "github_id": github_ids,
            "is_active": self.is_active,
            "role": Text(("developer", "lead", "manager"), self.role),
            "created_at": _moments(self.joined),
        }

    def _name_pairs(self) -> list[tuple[int, int]]:
        return list(zip(self.first.tolist(), self.last.tolist(), strict=True))

    def _handles(self) -> tuple[list[str], list[str]]:
        """GitHub usernames and emails, unique per team: repeats get a number appended."""
        styles = (self.seat * 7 + self.first) % 4  # a stable mix of username styles
        seen: dict[tuple[int, str], int] = {}
        usernames, emails = [], []
        for team, style, (first_index, last_index) in zip(
            self.team.tolist(), styles.tolist(), self._name_pairs(), strict=True
        ):
            first = FIRST_NAMES[first_index].lower()
            last = LAST_NAMES[last_index].lower().replace(" ", "")
            base = (f"{first}{last}", f"{first}-{last}", f"{first[0]}{last}", f"{first}{last[0]}")
            usernames.append(_numbered(seen, team, base[style]))
            local = _numbered(seen, team, f"{first}.{last}")
            emails.append(f"{local}@{self.slugs[team]}.example.com")
        return usernames, emails


def _numbered(seen: dict[tuple[int, str], int], team: int, base: str) -> str:
    # Bases contain no digits, so a numbered name never equals another base.
    count = seen.get((team, base), 0) + 1
    seen[(team, base)] = count
    return base if count == 1 else f"{base}{count}"


def _exact_share_per_team(rng: np.random.Generator, teams: int, size: int, share: float) -> np.ndarray:
    """A mask picking round(share * size) random non-anchor seats in every team."""
    picked = min(round(share * size), size - ANCHOR_SEATS)
    keys = rng.random((teams, size))
    keys[:, :ANCHOR_SEATS] = np.inf
    mask = np.zeros((teams, size), dtype=bool)
    np.put_along_axis(mask, np.argsort(keys, axis=1)[:, :picked], True, axis=1)
    return mask.ravel()


@dataclass
class _PullRequests:
    team: np.ndarray
    author: np.ndarray  # member row, -1 when the author's account is gone
    original_author: np.ndarray  # member row before losing some authors (for reviewer choice)
    repo: np.ndarray  # row in repos
    repos: list[str]
    number: np.ndarray
    title: np.ndarray
    state: np.ndarray
    created: np.ndarray
    merged: np.ndarray  # meaningful where state is merged
    first_review: np.ndarray  # meaningful where review_count > 0
    lifetime_end: np.ndarray  # merge, close, or the end of the history
    review_count: np.ndarray
    is_ai: np.ndarray
    is_revert: np.ndarray
    is_hotfix: np.ndarray
    additions: np.ndarray | None = None  # filled from the commits
    deletions: np.ndarray | None = None

    @classmethod
    def draw(cls, rng, spec: DatasetSpec, timeline: Timeline, members: _Members) -> _PullRequests:
        author = _pr_authors(rng, spec, members)
        created = _moments_in_history(rng, timeline, members.available_days[author])
        order = np.lexsort((author, created, members.team[author]))  # ids follow time per team
        author, created = author[order], created[order]
        count = len(author)
        team = members.team[author]
        state = rng.choice(3, size=count, p=PR_STATE_SHARES)
        is_ai = rng.random(count) < np.clip(
            members.ai_propensity[author] * (0.6 + 0.8 * timeline.fraction(created)), 0, 0.95
        )
        merged, first_review, lifetime_end = _lifecycle(rng, timeline, created, state, is_ai)
        repos, repo = _repos(rng, spec, team)
        kind = _title_kinds(rng, count)
        return cls(
            team=team,
            author=np.where(rng.random(count) < AUTHORLESS_SHARE, -1, author),
            original_author=author,
            repo=repo,
            repos=repos,
            number=_pr_numbers(rng, repo, created, len(repos)),
            title=kind * len(TITLES) + rng.integers(0, len(TITLES), count),
            state=state,
            created=created,
            merged=merged,
            first_review=first_review,
            lifetime_end=lifetime_end,
            review_count=_review_counts(rng, state),
            is_ai=is_ai,
            is_revert=kind == REVERT_TITLE,
            is_hotfix=kind == HOTFIX_TITLE,
        )

    def __len__(self) -> int:
        return len(self.team)

    def see_as_of(self, now: int, reviews: _Reviews, commits: Table) -> None:
        """Each PR as known at ``now`` (after every draw): a merge or close still to come
        leaves it open; only reviews submitted and commits made by then count."""
        self.state = np.where(self.lifetime_end <= now, self.state, OPEN)
        self.review_count = np.bincount(reviews.pull_request[reviews.submitted <= now], minlength=len(self))
        pull_request = commits["pull_request_id"].rows
        counted = (pull_request >= 0) & (commits["committed_at"].astype(np.int64) <= now)
        for name in ("additions", "deletions"):
            lines = np.bincount(pull_request[counted], commits[name][counted], minlength=len(self))
            setattr(self, name, lines.astype(np.int64))

    def table(self) -> Table:
        is_merged = self.state == MERGED
        reviewed = self.review_count > 0
        return {
            "team_id": Ref(Team, self.team),
            "author_id": Ref(TeamMember, self.author),
            "github_pr_id": self.number,
            "github_repo": Text(self.repos, self.repo),
            "title": Text(TITLE_VOCABULARY, self.title),
            "state": Text(PR_STATES, self.state),
            "pr_created_at": _moments(self.created),
            "merged_at": _moments(self.merged, null=~is_merged),
            "first_review_at": _moments(self.first_review, null=~reviewed),
            "cycle_time_hours": np.ma.array(_hundredths_of_hours(self.merged - self.created),
                                            mask=~is_merged),
            "review_time_hours": np.ma.array(_hundredths_of_hours(self.first_review - self.created),
                                             mask=~reviewed),
            "additions": self.additions,
            "deletions": self.deletions,
            "is_revert": self.is_revert,
            "is_hotfix": self.is_hotfix,
            "is_ai_assisted": self.is_ai,
        }


def _lifecycle(rng: np.random.Generator, timeline: Timeline, created: np.ndarray,
               state: np.ndarray, is_ai: np.ndarray):
    """Merge moment, first review moment and end of life (merge, close or the history's end).

    Cycle times are lognormal (median about 20 hours, a fifth shorter with AI help); a merged
    PR's first review falls between its creation and its merge.
    """
    count = len(created)

    def after(median_hours: float, scale: np.ndarray | float = 1.0) -> np.ndarray:
        delay = rng.lognormal(np.log(median_hours * HOUR), 1.0, count) * scale
        return _before_end(rng, timeline, created, created + delay.astype(np.int64))

    merged = after(20, np.where(is_ai, 0.8, 1.0))
    reviewed_before_merge = created + ((merged - created) * rng.beta(2.0, 3.0, count)).astype(np.int64)
    first_review = np.where(state == MERGED, reviewed_before_merge, after(4))
    closed = after(30)
    lifetime_end = np.select([state == MERGED, state == CLOSED], [merged, closed], timeline.end - 1)
    return merged, first_review, lifetime_end


def _pr_authors(rng: np.random.Generator, spec: DatasetSpec, members: _Members) -> np.ndarray:
    """Member row of every PR: each team's total split unevenly (lognormal weights)."""
    weights = members.pr_weight.reshape(spec.teams, spec.members_per_team)
    totals = np.full(spec.teams, spec.members_per_team * spec.prs_per_member)
    counts = rng.multinomial(totals, weights / weights.sum(axis=1, keepdims=True))
    return np.repeat(np.arange(len(members)), counts.ravel())


def _moments_in_history(rng: np.random.Generator, timeline: Timeline, available_days) -> np.ndarray:
    """Working-hours moments, quieter at weekends, within each row's first available days."""
    weights = np.where(timeline.weekdays >= 5, WEEKEND_WEIGHT, 1.0)
    cumulative = np.cumsum(weights)
    targets = rng.random(len(available_days)) * cumulative[available_days - 1]
    day = np.minimum(np.searchsorted(cumulative, targets, side="right"), available_days - 1)
    # Around mid-afternoon UTC; the rare late-night work wraps past midnight onto the same day.
    second_of_day = (rng.normal(14.5, 3.0, len(day)) * HOUR).astype(np.int64) % DAY
    return timeline.start + day * DAY + second_of_day


def _before_end(rng: np.random.Generator, timeline: Timeline, since: np.ndarray, at: np.ndarray):
    """``at``, except that moments past the history are redrawn between ``since`` and its end."""
    redrawn = since + (rng.random(len(since)) * (timeline.end - 1 - since)).astype(np.int64)
    return np.where(at < timeline.end, at, redrawn)


def _review_counts(rng: np.random.Generator, state: np.ndarray) -> np.ndarray:
    merged_values, merged_shares = REVIEWS_IF_MERGED
    other_values, other_shares = REVIEWS_OTHERWISE
    return np.where(
        state == MERGED,
        rng.choice(merged_values, size=len(state), p=merged_shares),
        rng.choice(other_values, size=len(state), p=other_shares),
    )


def _repos(rng: np.random.Generator, spec: DatasetSpec, pr_team: np.ndarray):
    """3-6 repos per team ("<slug>/<name>"), a few busy ones; return names and each PR's repo."""
    names, owners, weights = [], [], []
    for team, slug in enumerate(spec.team_slugs):
        picked = rng.choice(len(REPO_NAMES), size=int(rng.integers(3, 7)), replace=False)
        names += [f"{slug}/{REPO_NAMES[index]}" for index in picked]
        owners += [team] * len(picked)
        popularity = 1.0 / np.arange(1, len(picked) + 1)
        weights += list(np.cumsum(popularity) / popularity.sum())
    # One sorted key per repo (team + its cumulative share) finds each PR's repo in one search.
    keys = np.array(owners) + np.array(weights)
    keys[np.cumsum(np.bincount(owners)) - 1] = np.arange(spec.teams) + 1.0  # exact upper bounds
    repo = np.searchsorted(keys, pr_team + rng.random(len(pr_team)), side="right")
    return names, repo


def _pr_numbers(rng, repo: np.ndarray, created: np.ndarray, repo_count: int) -> np.ndarray:
    """Numbers rise with creation time within each repo, from where its earlier history left off."""
    order = np.lexsort((np.arange(len(repo)), created, repo))
    group_start = np.searchsorted(repo[order], repo[order], side="left")
    numbers = np.empty(len(repo), dtype=np.int64)
    numbers[order] = np.arange(len(repo)) - group_start
    return numbers + rng.integers(1, 4_000, repo_count)[repo]


def _title_kinds(rng: np.random.Generator, count: int) -> np.ndarray:
    draw = rng.random(count)
    kinds = np.full(count, PLAIN_TITLE)
    kinds[draw < REVERT_SHARE + HOTFIX_SHARE] = HOTFIX_TITLE
    kinds[draw < REVERT_SHARE] = REVERT_TITLE
    return kinds


@dataclass
class _Reviews:
    pull_request: np.ndarray
    slot: np.ndarray  # 0 = the first review
    reviewer: np.ndarray
    submitted: np.ndarray
    state: np.ndarray
    first_row: np.ndarray  # per PR: its first review's row

    @classmethod
    def draw(cls, rng: np.random.Generator, prs: _PullRequests, members: _Members) -> _Reviews:
        counts, reviewers = _reviewers(rng, prs, members)
        prs.review_count = counts
        first_row = np.cumsum(counts) - counts
        pull_request = np.repeat(np.arange(len(prs)), counts)
        slot = np.arange(len(pull_request)) - first_row[pull_request]
        return cls(
            pull_request=pull_request,
            slot=slot,
            reviewer=reviewers[pull_request, slot],
            submitted=_review_moments(rng, prs)[pull_request, slot],
            state=_review_states(rng, prs, pull_request, slot),
            first_row=first_row,
        )

    def table(self, prs: _PullRequests) -> Table:
        return {
            "team_id": Ref(Team, prs.team[self.pull_request]),
            "pull_request_id": Ref(PullRequest, self.pull_request),
            "reviewer_id": Ref(TeamMember, self.reviewer),
            "state": Text(REVIEW_STATES, self.state),
            "submitted_at": _moments(self.submitted),
        }


def _reviewers(rng: np.random.Generator, prs: _PullRequests, members: _Members):
    """Up to three distinct reviewers per PR among the team's other active members with a login.

    Returns the review counts (capped by the pool) and a (PRs, 3) matrix of member rows.
    """
    in_pool = members.is_active & members.has_login
    pool = np.flatnonzero(in_pool)  # member rows, grouped by team
    pool_size = np.bincount(members.team[pool], minlength=members.team.max() + 1)
    pool_start = np.cumsum(pool_size) - pool_size
    position = np.full(len(members), -1)
    position[pool] = np.arange(len(pool)) - pool_start[members.team[pool]]

    team, author = prs.team, prs.original_author
    size = pool_size[team]
    author_in_pool = position[author] >= 0
    # Offsets from just after the author's pool position never reach the author.
    choices = np.where(author_in_pool, size - 1, size)
    base = np.where(author_in_pool, position[author] + 1, rng.integers(0, size))
    offsets = _distinct_offsets(rng, choices)
    reviewers = pool[pool_start[team, None] + (base[:, None] + offsets) % size[:, None]]
    return np.minimum(prs.review_count, choices), reviewers


def _distinct_offsets(rng: np.random.Generator, choices: np.ndarray) -> np.ndarray:
    """Three distinct offsets in [0, choices) per row (fewer are valid where choices < 3)."""
    draws = rng.random((len(choices), MAX_REVIEWS))
    first = (draws[:, 0] * choices).astype(np.int64)
    second = (draws[:, 1] * np.maximum(choices - 1, 1)).astype(np.int64)
    second += second >= first
    low, high = np.minimum(first, second), np.maximum(first, second)
    third = (draws[:, 2] * np.maximum(choices - 2, 1)).astype(np.int64)
    third += third >= low
    third += third >= high
    return np.stack([first, second, third], axis=1)


def _review_moments(rng: np.random.Generator, prs: _PullRequests) -> np.ndarray:
    """(PRs, 3): the first review at first_review_at, later ones in order before the window ends."""
    window_end = np.maximum(prs.first_review, prs.lifetime_end)
    draws = np.sort(rng.random((len(prs), MAX_REVIEWS - 1)), axis=1)
    later = prs.first_review[:, None] + (draws * (window_end - prs.first_review)[:, None])
    return np.column_stack([prs.first_review, later.astype(np.int64)])


def _review_states(rng, prs: _PullRequests, pull_request: np.ndarray, slot: np.ndarray):
    """Merged PRs end with an approval (mostly); earlier rounds comment or ask for changes."""
    count = len(slot)
    early = rng.choice(3, size=count, p=(0.2, 0.35, 0.45))
    final = np.where(rng.random(count) < 0.92, 0, 2)
    is_last_of_merged = (prs.state[pull_request] == MERGED) & (
        slot == prs.review_count[pull_request] - 1
    )
    return np.where(is_last_of_merged, final, early)


def _commits(rng: np.random.Generator, spec: DatasetSpec, timeline: Timeline,
             prs: _PullRequests) -> Table:
    """1-5 commits inside each PR's lifetime, plus direct pushes within a day of a PR by the
    same author (so inactive members stop pushing when they stop opening PRs)."""
    values, shares = COMMITS_PER_PR
    per_pr = rng.choice(values, size=len(prs), p=shares)
    in_pr = np.repeat(np.arange(len(prs)), per_pr)
    span = prs.lifetime_end[in_pr] - prs.created[in_pr]
    in_pr_time = prs.created[in_pr] + (rng.random(len(in_pr)) * (span + 1)).astype(np.int64)
    in_pr_time = _opened_from_a_commit(timeline.as_of, prs, per_pr, in_pr_time)

    near = rng.integers(0, len(prs), round(DIRECT_COMMIT_SHARE * len(in_pr)))
    pushed = prs.created[near] + (rng.random(len(near)) * DAY).astype(np.int64)
    direct_time = _before_end(rng, timeline, prs.created[near], pushed)
    source_pr = np.concatenate([in_pr, near])
    pull_request = np.concatenate([in_pr, np.full(len(near), -1)])
    committed = np.concatenate([in_pr_time, direct_time])
    additions = rng.lognormal(np.log(30), 1.2, len(source_pr)).astype(np.int64)
    deletions = rng.lognormal(np.log(10), 1.3, len(source_pr)).astype(np.int64)
    prs.additions = np.bincount(in_pr, additions[: len(in_pr)], minlength=len(prs)).astype(np.int64)
    prs.deletions = np.bincount(in_pr, deletions[: len(in_pr)], minlength=len(prs)).astype(np.int64)

    order = np.lexsort((np.arange(len(source_pr)), committed, prs.team[source_pr]))
    source_pr = source_pr[order]
    return {
        "team_id": Ref(Team, prs.team[source_pr]),
        "github_sha": _shas(rng, spec.seed, len(order)),
        "github_repo": Text(prs.repos, prs.repo[source_pr]),
        "author_id": Ref(TeamMember, prs.author[source_pr]),
        "pull_request_id": Ref(PullRequest, pull_request[order]),
        "committed_at": _moments(committed[order]),
        "additions": additions[order],
        "deletions": deletions[order],
    }


def _opened_from_a_commit(now: int, prs: _PullRequests, per_pr: np.ndarray, times: np.ndarray) -> np.ndarray:
    """A PR is opened from a commit: where every commit of a PR open by ``now`` would come
    after it, its first commit is made when the PR was opened instead (never in a past history)."""
    first = np.cumsum(per_pr) - per_pr  # each PR's first commit (every PR has at least one)
    pending = (prs.created <= now) & (np.minimum.reduceat(times, first) > now)
    times = times.copy()
    times[first[pending]] = prs.created[pending]
    return times


def _shas(rng: np.random.Generator, seed: int, count: int) -> np.ndarray:
    """40-hex commit shas, unique: the first 64 bits are a bijective mix of a counter."""
    counter = np.arange(count, dtype=np.uint64) + np.uint64(seed) * np.uint64(1 << 32)
    unique_part = _splitmix64(counter).astype(">u8").view(np.uint8).reshape(count, 8)
    random_part = rng.integers(0, 256, (count, 12), dtype=np.uint8)
    raw = np.concatenate([unique_part, random_part], axis=1)
    nibbles = np.stack([raw >> 4, raw & 0x0F], axis=2).reshape(count, 40)
    return np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[nibbles].view("S40").ravel()


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection on 64-bit integers that looks random."""
    with np.errstate(over="ignore"):
        z = values + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


@dataclass
class _Surveys:
    pull_request: np.ndarray
    answered: np.ndarray
    author_ai: np.ndarray  # meaningful where answered
    responded: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, timeline: Timeline, prs: _PullRequests) -> _Surveys:
        eligible = (prs.state == MERGED) & (prs.author >= 0)  # nobody to ask without an author
        pull_request = np.flatnonzero(eligible & (rng.random(len(prs)) < SURVEY_SHARE))
        count = len(pull_request)
        is_ai = prs.is_ai[pull_request]
        merged = prs.merged[pull_request]
        delay = rng.lognormal(np.log(3 * HOUR), 1.2, count).astype(np.int64)
        return cls(
            pull_request=pull_request,
            answered=rng.random(count) < SURVEY_ANSWERED_SHARE,
            author_ai=np.where(rng.random(count) < SURVEY_HONEST_SHARE, is_ai, ~is_ai),
            responded=_before_end(rng, timeline, merged, merged + delay),
        )

    def see_as_of(self, now: int, survey_reviews: Table) -> None:
        """An author's answer still to come is no answer yet, nor can a guess be judged."""
        self.answered = self.answered & (self.responded <= now)
        guess_correct = survey_reviews["guess_correct"]
        survey_reviews["guess_correct"] = np.ma.array(
            guess_correct.data, mask=~self.answered[survey_reviews["survey_id"].rows]
        )

    def table(self, prs: _PullRequests) -> Table:
        pull_request = self.pull_request
        return {
            "team_id": Ref(Team, prs.team[pull_request]),
            "pull_request_id": Ref(PullRequest, pull_request),
            "author_id": Ref(TeamMember, prs.author[pull_request]),
            "author_ai_assisted": np.ma.array(self.author_ai, mask=~self.answered),
            "author_responded_at": _moments(self.responded, null=~self.answered),
            "created_at": _moments(prs.merged[pull_request]),  # asked when the PR merged
        }


def _survey_reviews(rng: np.random.Generator, timeline: Timeline, surveys: _Surveys,
                    prs: _PullRequests, reviews: _Reviews) -> Table:
    """One or two of the PR's reviewers rate it 1-3 and guess whether AI helped."""
    pr = surveys.pull_request
    per_survey = np.minimum(1 + (rng.random(len(pr)) < 0.5), prs.review_count[pr])
    survey = np.repeat(np.arange(len(pr)), per_survey)
    slot = np.arange(len(survey)) - (np.cumsum(per_survey) - per_survey)[survey]
    pr = pr[survey]
    count = len(survey)
    ai_guess = rng.random(count) < np.where(prs.is_ai[pr], 0.70, 0.25)
    answered = surveys.answered[survey]
    delay = rng.lognormal(np.log(6 * HOUR), 1.1, count).astype(np.int64)
    return {
        "team_id": Ref(Team, prs.team[pr]),
        "survey_id": Ref(PRSurvey, survey),
        "reviewer_id": Ref(TeamMember, reviews.reviewer[reviews.first_row[pr] + slot]),
        "quality_rating": rng.choice((1, 2, 3), size=count, p=QUALITY_SHARES),
        "ai_guess": ai_guess,
        "guess_correct": np.ma.array(ai_guess == surveys.author_ai[survey], mask=~answered),
        "responded_at": _moments(_before_end(rng, timeline, prs.merged[pr], prs.merged[pr] + delay)),
    }


def _ai_usage(rng: np.random.Generator, timeline: Timeline, members: _Members) -> Table:
    """Copilot usage of every active member with a login on every weekday, growing over time."""
    users = np.flatnonzero(members.is_active & members.has_login)
    days = np.flatnonzero(timeline.weekdays < 5)
    member = np.repeat(users, len(days))
    day = np.tile(days, len(users))
    count = len(member)
    growth = 0.7 + 0.6 * (day + 0.5) / timeline.days
    busy = rng.random(count) >= 0.08  # some days nobody opens an editor
    intensity = members.ai_propensity[member] * growth * rng.gamma(4.0, 0.25, count)
    shown = rng.poisson(20 + 220 * intensity) * busy
    rate = np.clip(members.acceptance[member] * growth, 0.02, 0.9)
    accepted = rng.binomial(shown, rate)
    lines_suggested = shown + rng.poisson(1.6 * shown)
    return {
        "team_id": Ref(Team, members.team[member]),
        "member_id": Ref(TeamMember, member),
        "date": (timeline.start // DAY + day).astype("datetime64[D]"),
        "source": Text(("copilot",), np.zeros(count, dtype=np.int64)),
        "suggestions_shown": shown,
        "suggestions_accepted": accepted,
        "lines_suggested": lines_suggested,
        "lines_accepted": rng.binomial(lines_suggested, rate * 0.9),
        "chat_interactions": rng.poisson(6 * intensity) * busy,
        "acceptance_rate": np.ma.array(_percent_hundredths(accepted, shown), mask=shown == 0),
    }


# --- as of ------------------------------------------------------------------------------------

MOMENT_COLUMNS: dict[type[Model], str] = {  # when each row came to be
    Team: "created_at",
    TeamMember: "created_at",
    PullRequest: "pr_created_at",
    PRReview: "submitted_at",
    Commit: "committed_at",
    PRSurvey: "created_at",  # asked when its PR merged
    PRSurveyReview: "responded_at",
    AIUsageDaily: "date",  # known once the day is over
}


def _seen_as_of(now: int, tables: dict[type[Model], Table]) -> dict[type[Model], Table]:
    """The tables without the rows that come to be after ``now``, references renumbered.

    A row never comes to be before its parent (a review before its PR, say), so no kept row
    loses its parent; an end date in the past with the default as_of drops nothing.
    """
    keep = {model: _known_at(now, model, table) for model, table in tables.items()}
    if all(kept.all() for kept in keep.values()):
        return tables
    position = {model: np.cumsum(kept) - 1 for model, kept in keep.items()}
    seen = {}
    for model, table in tables.items():
        kept = keep[model]
        columns: Table = {}
        for name, values in table.items():
            if isinstance(values, Ref):
                rows = values.rows[kept]
                parent = np.maximum(rows, 0)
                if not ((rows < 0) | keep[values.model][parent]).all():
                    raise AssertionError(f"{model.__name__}.{name}: a kept row's parent came later")
                values = Ref(values.model, np.where(rows >= 0, position[values.model][parent], -1))
            elif isinstance(values, Text):
                values = Text(values.vocabulary, values.codes[kept])
            elif isinstance(values, list):
                values = [value for value, taken in zip(values, kept.tolist(), strict=True) if taken]
            else:
                values = values[kept]
            columns[name] = values
        seen[model] = columns
    return seen


def _known_at(now: int, model: type[Model], table: Table) -> np.ndarray:
    moments = np.asarray(table[MOMENT_COLUMNS[model]])
    if model is AIUsageDaily:
        return (moments.astype("datetime64[s]").astype(np.int64) + DAY) <= now
    return moments.astype("datetime64[s]").astype(np.int64) <= now


# --- value helpers --------------------------------------------------------------------------


def _moments(seconds: np.ndarray, *, null: np.ndarray | None = None):
    """Epoch seconds as UTC datetime64 (masked where ``null``), as pgcopy takes timestamps."""
    values = np.asarray(seconds, dtype=np.int64).astype("datetime64[s]")
    return values if null is None else np.ma.array(values, mask=null)


def _hundredths_of_hours(seconds: np.ndarray) -> np.ndarray:
    """Durations in hours to two decimals (half up), as integer hundredths: no float rounding."""
    return (np.maximum(seconds, 0) * 100 + HOUR // 2) // HOUR


def _percent_hundredths(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """part / whole in percent to two decimals (half up), as integer hundredths; 0 if whole is 0."""
    safe_whole = np.maximum(whole, 1)
    return (part * 20_000 + safe_whole) // (2 * safe_whole)


def _row_count(table: Table) -> int:
    return len(next(iter(table.values())))


# --- loading ------------------------------------------------------------------------------------


def _load(
    tables: dict[type[Model], Table], *, progress: bool, analyze: bool = True
) -> tuple[dict[type[Model], int], bool]:
    """COPY every table in dependency order; return each table's first id and whether FK
    trigger checks were skipped."""
    total = sum(_row_count(table) for table in tables.values())
    with connection.cursor() as cursor:
        previous_role = _skip_foreign_key_triggers(cursor)
        psycopg_cursor = cursor.cursor
        first_ids = {
            model: _reserve_ids(psycopg_cursor, model._meta.db_table, _row_count(tables[model]))
            for model in LOAD_ORDER
        }
        with tqdm(total=total, unit="row", unit_scale=True, disable=not progress) as bar:
            for model in LOAD_ORDER:
                if _row_count(tables[model]) == 0:
                    continue  # a tiny dataset may have, say, no survey reviews at all
                bar.set_description(f"loading {model.__name__}")
                columns = _with_ids(tables[model], first_ids, first_ids[model])
                copy_columns(psycopg_cursor, model._meta.db_table, columns, on_rows=bar.update)
        if previous_role is not None:
            cursor.execute("SELECT set_config('session_replication_role', %s, true)", [previous_role])
        for model in LOAD_ORDER if analyze else ():
            # Fresh statistics, so that the plans measured right after seeding are the real ones.
            cursor.execute(f'ANALYZE "{model._meta.db_table}"')
    return first_ids, previous_role is not None


def _skip_foreign_key_triggers(cursor) -> str | None:
    """Turn off the per-row FK trigger checks for this transaction when allowed (superuser).

    The data satisfies every constraint anyway; the checks would queue millions of deferred
    trigger events. Returns the setting to restore, or None when not allowed.
    """
    cursor.execute("SELECT current_setting('session_replication_role')")
    previous = cursor.fetchone()[0]
    try:
        with transaction.atomic():
            cursor.execute("SET LOCAL session_replication_role = replica")
    except DatabaseError:
        return None
    return previous


def _reserve_ids(cursor, table: str, count: int) -> int:
    """The first of ``count`` consecutive ids taken from ``table``'s identity sequence.

    nextval() hands each value out once, so concurrent inserts can never collide with ours;
    if one interleaved and the block is not consecutive, those values are skipped and we
    take another block.
    """
    if count == 0:
        return 0
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    sequence = cursor.fetchone()[0]
    for _attempt in range(5):
        cursor.execute(
            "SELECT min(id), max(id) FROM (SELECT nextval(%s) AS id FROM generate_series(1, %s)) AS ids",
            [sequence, count],
        )
        low, high = cursor.fetchone()
        if high - low + 1 == count:
            return low
    raise RuntimeError(f"could not reserve {count} consecutive ids in {sequence}")


def _with_ids(table: Table, first_ids: dict[type[Model], int], first_id: int) -> Table:
    """The table with its id column and every Ref turned into ids (NULL where the row is -1)."""
    columns: Table = {"id": first_id + np.arange(_row_count(table), dtype=np.int64)}
    for name, values in table.items():
        if isinstance(values, Ref):
            ids = first_ids[values.model] + np.asarray(values.rows, dtype=np.int64)
            values = np.ma.array(ids, mask=values.rows < 0) if (values.rows < 0).any() else ids
        columns[name] = values
    return columns
