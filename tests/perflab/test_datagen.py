"""apps.perflab.datagen and seed_demo against the real PostgreSQL, at a small size."""

import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection
from django.db.models import Count, F, Min, Q

from apps.metrics.models import (
    AIUsageDaily,
    Commit,
    PRReview,
    PRSurvey,
    PRSurveyReview,
    PullRequest,
    TeamMember,
)
from apps.perflab import datagen
from apps.perflab.datagen import DatasetSpec, SlugCollisionError, generate
from apps.perflab.pgcopy import Text, copy_columns
from apps.teams.models import Membership, Team

pytestmark = pytest.mark.django_db

SPEC = DatasetSpec(
    teams=2, members_per_team=20, prs_per_member=10, days=28, seed=7,
    end_date=date(2025, 3, 31), team_slug_prefix="dg",
)
HISTORY_START = datetime(2025, 3, 4, tzinfo=UTC)
HISTORY_END = datetime(2025, 4, 1, tzinfo=UTC)  # exclusive
SEEDED_MODELS = (Team, TeamMember, PullRequest, PRReview, Commit, PRSurvey, PRSurveyReview, AIUsageDaily)


@pytest.fixture
def seeded():
    return generate(SPEC, progress=False)


def of_spec(model, spec=SPEC):
    slugs = spec.team_slugs
    if model is Team:
        return Team.objects.filter(slug__in=slugs)
    return model.objects.filter(team__slug__in=slugs)


def dump(spec=SPEC) -> dict[str, list[tuple]]:
    """Every generated row as plain values, foreign keys replaced by the parent's position
    (ids differ between runs, positions must not)."""
    positions: dict[type, dict[int, int]] = {}
    rows_by_model = {}
    for model in SEEDED_MODELS:
        rows = list(of_spec(model, spec).order_by("id").values())
        positions[model] = {row["id"]: index for index, row in enumerate(rows)}
        parents = {f.attname: f.related_model for f in model._meta.concrete_fields if f.is_relation}
        rows_by_model[model.__name__] = [
            tuple(
                (name, positions[parents[name]][value] if name in parents and value is not None else value)
                for name, value in row.items()
                if name != "id"
            )
            for row in rows
        ]
    return rows_by_model


# --- the result and determinism -----------------------------------------------------------------


def test_result_reports_teams_and_the_rows_written(seeded):
    assert seeded.team_slugs == ("dg-1", "dg-2")
    assert list(Team.objects.filter(id__in=seeded.team_ids).values_list("slug", flat=True).order_by("id")) == [
        "dg-1", "dg-2",
    ]
    assert seeded.row_counts == {model.__name__: of_spec(model).count() for model in SEEDED_MODELS}
    assert seeded.row_counts["PullRequest"] == 2 * 20 * 10
    assert seeded.total_rows == sum(seeded.row_counts.values())


def test_same_spec_gives_identical_rows_and_another_seed_does_not(seeded):
    first = dump()
    Team.objects.filter(slug__in=SPEC.team_slugs).delete()
    assert of_spec(PullRequest).count() == 0

    generate(SPEC, progress=False)
    assert dump() == first

    Team.objects.filter(slug__in=SPEC.team_slugs).delete()
    other_seed = DatasetSpec(**{**SPEC.__dict__, "seed": SPEC.seed + 1})
    generate(other_seed, progress=False)
    second = dump()
    assert second["PullRequest"] != first["PullRequest"]
    assert second["TeamMember"] != first["TeamMember"]


def test_timestamps_never_depend_on_the_clock():
    spec = DatasetSpec(teams=1, members_per_team=5, prs_per_member=2, end_date=date(2020, 1, 31),
                       team_slug_prefix="old")
    generate(spec, progress=False)
    latest = of_spec(PullRequest, spec).order_by("-pr_created_at").first().pr_created_at
    assert latest < datetime(2020, 2, 1, tzinfo=UTC)


# --- as of: nothing generated lies after the moment it is generated ----------------------------------

TODAY_SPEC = dict(teams=1, members_per_team=50, prs_per_member=20, days=90, team_slug_prefix="asof")  # make demo's


def _today_at(hours: float) -> datetime:
    return datetime.combine(datetime.now(UTC).date(), datetime.min.time(), tzinfo=UTC) + timedelta(hours=hours)


def _latest_moments(spec: DatasetSpec) -> dict[str, datetime | date | None]:
    def latest(model, column):
        return of_spec(model, spec).order_by(F(column).desc(nulls_last=True)).values_list(column, flat=True).first()

    return {
        f"{model.__name__}.{column}": latest(model, column)
        for model, column in [
            (PullRequest, "pr_created_at"), (PullRequest, "merged_at"), (PullRequest, "first_review_at"),
            (PRReview, "submitted_at"), (Commit, "committed_at"), (PRSurvey, "created_at"),
            (PRSurvey, "author_responded_at"), (PRSurveyReview, "responded_at"), (AIUsageDaily, "date"),
        ]
    }


def test_a_history_ending_today_has_nothing_after_the_clock():
    """make demo's spec (end date: today, as_of: the default): no row lies after the clock."""
    spec = DatasetSpec(**TODAY_SPEC)
    generate(spec, progress=False)
    clock = datetime.now(UTC)
    for column, moment in _latest_moments(spec).items():
        if column == "AIUsageDaily.date":
            assert moment is None or moment < clock.date(), f"{column}: usage of a day not over yet ({moment})"
        else:
            assert moment is None or moment <= clock, f"{column} {moment} lies after {clock}"
    assert spec.as_of <= clock


def test_as_of_mid_day_withholds_everything_that_comes_later():
    as_of = _today_at(12.582_436)  # 12:34:56.77 today
    spec = DatasetSpec(**TODAY_SPEC, end_date=as_of.date(), as_of=as_of)
    generate(spec, progress=False)
    for column, moment in _latest_moments(spec).items():
        if column == "AIUsageDaily.date":
            assert moment is None or moment < as_of.date(), f"{column}: usage of a day not over yet ({moment})"
        else:
            assert moment is None or moment <= as_of, f"{column} {moment} lies after as_of {as_of}"

    # Still consistent: only merged PRs have a merge, a cycle time and a survey; reviews,
    # commits and survey answers seen so far agree with the PR.
    prs = of_spec(PullRequest, spec)
    merge_known = Q(merged_at__isnull=False) | Q(cycle_time_hours__isnull=False)
    merge_missing = Q(merged_at__isnull=True) | Q(cycle_time_hours__isnull=True)
    assert not prs.exclude(state="merged").filter(merge_known).exists()
    assert not prs.filter(state="merged").filter(merge_missing).exists()
    assert not of_spec(PRSurvey, spec).exclude(pull_request__state="merged").exists()
    per_pr = prs.annotate(reviews_seen=Count("reviews"), first=Min("reviews__submitted_at"))
    assert all(pr.first == pr.first_review_at for pr in per_pr)
    assert not per_pr.filter(first_review_at__isnull=True, review_time_hours__isnull=False).exists()
    assert not per_pr.filter(state="merged", reviews_seen=0).exists()
    with_commits = prs.annotate(n=Count("commits"))
    assert not with_commits.filter(n=0).exists()  # a PR is opened from a commit
    for pr in with_commits.order_by("-pr_created_at")[:40]:
        assert pr.additions == sum(pr.commits.values_list("additions", flat=True))
    surveys = of_spec(PRSurvey, spec)
    assert not surveys.filter(author_ai_assisted__isnull=True, author_responded_at__isnull=False).exists()
    assert not of_spec(PRSurveyReview, spec).filter(survey__author_ai_assisted__isnull=True,
                                                     guess_correct__isnull=False).exists()


def _pr_rows(spec: DatasetSpec) -> list[dict]:
    tables = datagen.build_tables(spec)
    table = tables[PullRequest]
    state = table["state"]
    return [
        {
            "key": (int(number), str(table["github_repo"].vocabulary[repo])),
            "created": created,
            "state": datagen.PR_STATES[code],
            "merged": merged,
        }
        for number, repo, created, code, merged in zip(
            table["github_pr_id"].tolist(), table["github_repo"].codes.tolist(),
            table["pr_created_at"].tolist(), state.codes.tolist(), table["merged_at"].tolist(), strict=True,
        )
    ]


def test_an_earlier_as_of_sees_the_same_history_with_less_of_it_happened():
    """The draws never see as_of: at noon, the PRs created by noon are the day's PRs, and those
    that merge in the afternoon are still open (the shares stay honest, nothing is squeezed in)."""
    end = datetime.now(UTC).date()
    as_of = _today_at(12)
    whole_day = {pr["key"]: pr for pr in _pr_rows(DatasetSpec(**TODAY_SPEC, end_date=end, as_of=_today_at(24)))}
    at_noon = _pr_rows(DatasetSpec(**TODAY_SPEC, end_date=end, as_of=as_of))
    noon = as_of.replace(tzinfo=None)
    assert len(at_noon) == sum(pr["created"] <= noon for pr in whole_day.values()) < len(whole_day)
    still_open = 0
    for pr in at_noon:
        later = whole_day[pr["key"]]
        if later["state"] == "merged" and later["merged"] > noon:
            assert pr == {**later, "state": "open", "merged": None}
            still_open += 1
        elif later["state"] == "closed":
            assert pr == later or pr == {**later, "state": "open"}  # closing in the afternoon
        else:
            assert pr == later
    assert still_open > 0


def test_the_default_as_of():
    assert SPEC.as_of == HISTORY_END  # a past end date: the end of its day, so nothing is withheld
    before = datetime.now(UTC)
    today = DatasetSpec(**TODAY_SPEC)
    assert before <= today.as_of <= datetime.now(UTC)
    tomorrow = DatasetSpec(**TODAY_SPEC, end_date=before.date() + timedelta(days=1))
    assert tomorrow.as_of <= datetime.now(UTC)
    new_york = datetime(2025, 3, 31, 16, tzinfo=ZoneInfo("America/New_York"))
    assert DatasetSpec(**{**SPEC.__dict__, "as_of": new_york}).as_of == datetime(2025, 3, 31, 20, tzinfo=UTC)


def _plain(values) -> list:
    if isinstance(values, Text):
        return [values.vocabulary[code] if code >= 0 else None for code in values.codes.tolist()]
    if isinstance(values, datagen.Ref):
        return [values.model.__name__, *values.rows.tolist()]
    return values.tolist() if isinstance(values, np.ndarray) else list(values)  # masked: None


def _built(spec: DatasetSpec) -> dict[str, dict[str, list]]:
    tables = datagen.build_tables(spec)
    return {model.__name__: {name: _plain(values) for name, values in table.items()} for model, table in tables.items()}


def test_a_past_history_is_the_same_with_any_as_of_from_its_end():
    expected = _built(SPEC)
    assert _built(DatasetSpec(**{**SPEC.__dict__, "as_of": HISTORY_END})) == expected
    assert _built(DatasetSpec(**{**SPEC.__dict__, "as_of": datetime(2030, 1, 1, tzinfo=UTC)})) == expected
    assert _built(DatasetSpec(**{**SPEC.__dict__, "as_of": HISTORY_END - timedelta(hours=1)})) != expected


# --- shapes ----------------------------------------------------------------------------------------


def test_members_shape(seeded):
    members = of_spec(TeamMember)
    assert members.count() == 40
    for slug in SPEC.team_slugs:
        team_members = members.filter(team__slug=slug)
        assert team_members.filter(is_active=False).count() == 2  # 10% of 20
        assert team_members.filter(github_username="").count() == 2
        usernames = [u for u in team_members.values_list("github_username", flat=True) if u]
        assert len(usernames) == len(set(usernames)) == 18
    assert not members.filter(github_username="").exclude(github_id="").exists()
    assert not members.exclude(github_username="").filter(github_id="").exists()
    for name in members.values_list("display_name", flat=True):
        first, last = name.split(" ", 1)
        assert first in datagen.FIRST_NAMES and last in datagen.LAST_NAMES


def test_members_without_login_have_no_github_activity(seeded):
    no_login = of_spec(TeamMember).filter(github_username="")
    assert not PullRequest.objects.filter(author__in=no_login).exists()
    assert not PRReview.objects.filter(reviewer__in=no_login).exists()
    assert not AIUsageDaily.objects.filter(member__in=no_login).exists()


def test_inactive_members_only_contribute_early(seeded):
    inactive = of_spec(TeamMember).filter(is_active=False)
    assert not AIUsageDaily.objects.filter(member__in=inactive).exists()
    last_pr = PullRequest.objects.filter(author__in=inactive).order_by("-pr_created_at").first()
    assert last_pr is not None
    assert last_pr.pr_created_at < HISTORY_START + 0.7 * (HISTORY_END - HISTORY_START)


def test_pull_request_state_shares(seeded):
    prs = of_spec(PullRequest)
    total = prs.count()
    shares = {row["state"]: row["n"] / total for row in prs.values("state").annotate(n=Count("id"))}
    assert shares["merged"] == pytest.approx(0.70, abs=0.08)
    assert shares["open"] == pytest.approx(0.20, abs=0.07)
    assert shares["closed"] == pytest.approx(0.10, abs=0.05)
    authorless = prs.filter(author__isnull=True).count()
    assert 1 <= authorless <= 0.04 * total


def test_pull_request_times_are_consistent(seeded):
    prs = of_spec(PullRequest)
    assert not prs.filter(Q(pr_created_at__lt=HISTORY_START) | Q(pr_created_at__gte=HISTORY_END)).exists()
    assert not prs.filter(merged_at__gte=HISTORY_END).exists()
    assert not prs.filter(merged_at__lt=F("pr_created_at")).exists()
    assert not prs.exclude(state="merged").filter(merged_at__isnull=False).exists()
    assert not prs.filter(state="merged", first_review_at__gt=F("merged_at")).exists()
    for pr in prs.filter(state="merged"):
        hours = (pr.merged_at - pr.pr_created_at).total_seconds() / 3600
        assert pr.cycle_time_hours == Decimal(str(round(hours + 1e-9, 2)))
    for pr in prs.filter(first_review_at__isnull=False):
        hours = (pr.first_review_at - pr.pr_created_at).total_seconds() / 3600
        assert pr.review_time_hours == Decimal(str(round(hours + 1e-9, 2)))
    assert not prs.filter(first_review_at__isnull=True, review_time_hours__isnull=False).exists()
    cycle_hours = sorted(float(h) for h in prs.filter(state="merged").values_list("cycle_time_hours", flat=True))
    assert 8 < cycle_hours[len(cycle_hours) // 2] < 48  # median around a day


def test_pull_request_numbers_and_repos(seeded):
    prs = of_spec(PullRequest)
    for slug in SPEC.team_slugs:
        repos = set(prs.filter(team__slug=slug).values_list("github_repo", flat=True))
        assert 3 <= len(repos) <= 6
        assert all(repo.startswith(f"{slug}/") for repo in repos)
    numbers = list(prs.values_list("team_id", "github_repo", "github_pr_id"))
    assert len(numbers) == len(set(numbers))


def test_reviews_come_from_other_members_of_the_team(seeded):
    reviews = of_spec(PRReview)
    assert reviews.exists()
    assert not reviews.filter(reviewer__isnull=True).exists()
    assert not reviews.filter(reviewer_id=F("pull_request__author_id")).exists()
    assert not reviews.exclude(reviewer__team_id=F("team_id")).exists()
    assert not reviews.exclude(pull_request__team_id=F("team_id")).exists()
    assert not reviews.filter(submitted_at__lt=F("pull_request__pr_created_at")).exists()
    assert not reviews.filter(submitted_at__gte=HISTORY_END).exists()
    per_pr = of_spec(PullRequest).annotate(n=Count("reviews"), first=Min("reviews__submitted_at"))
    assert not per_pr.filter(n__gt=3).exists()
    assert not per_pr.filter(state="merged", n=0).exists()
    assert all(pr.first == pr.first_review_at for pr in per_pr)
    pairs = list(reviews.values_list("pull_request_id", "reviewer_id"))
    assert len(pairs) == len(set(pairs))


def test_commits(seeded):
    commits = of_spec(Commit)
    in_prs = commits.filter(pull_request__isnull=False)
    per_pr = of_spec(PullRequest).annotate(n=Count("commits"))
    assert not per_pr.filter(Q(n__lt=1) | Q(n__gt=5)).exists()
    assert commits.filter(pull_request__isnull=True).exists()
    assert not in_prs.exclude(author_id=F("pull_request__author_id")).filter(author__isnull=False).exists()
    assert not in_prs.filter(pull_request__author__isnull=True, author__isnull=False).exists()
    assert not in_prs.filter(committed_at__lt=F("pull_request__pr_created_at")).exists()
    assert not in_prs.filter(committed_at__gt=F("pull_request__merged_at")).exists()
    assert not commits.filter(committed_at__gte=HISTORY_END).exists()
    shas = list(commits.values_list("github_sha", flat=True))
    assert all(re.fullmatch(r"[0-9a-f]{40}", sha) for sha in shas)
    assert len(shas) == len(set(shas))
    for pr in per_pr.filter(n__gt=0)[:20]:
        assert pr.additions == sum(pr.commits.values_list("additions", flat=True))


def test_surveys(seeded):
    surveys = of_spec(PRSurvey)
    merged = of_spec(PullRequest).filter(state="merged")
    assert not surveys.exclude(pull_request__state="merged").exists()
    assert surveys.count() / merged.count() == pytest.approx(0.60, abs=0.1)
    assert not surveys.exclude(author_id=F("pull_request__author_id")).exists()
    assert not surveys.exclude(created_at=F("pull_request__merged_at")).exists()
    answered = surveys.filter(author_ai_assisted__isnull=False)
    assert answered.count() / surveys.count() == pytest.approx(0.80, abs=0.1)
    assert not answered.filter(author_responded_at__lt=F("pull_request__merged_at")).exists()
    # Answers track the PR's own flag (people mostly answer truthfully).
    agree = answered.filter(author_ai_assisted=F("pull_request__is_ai_assisted")).count()
    assert agree / answered.count() > 0.8


def test_survey_reviews(seeded):
    reviews = of_spec(PRSurveyReview)
    per_survey = of_spec(PRSurvey).annotate(n=Count("reviews"))
    assert not per_survey.filter(Q(n__lt=1) | Q(n__gt=2)).exists()
    assert not reviews.exclude(quality_rating__in=(1, 2, 3)).exists()
    assert not reviews.filter(reviewer_id=F("survey__author_id")).exists()
    assert not reviews.exclude(reviewer__team_id=F("team_id")).exists()
    for review in reviews.select_related("survey"):
        answer = review.survey.author_ai_assisted
        expected = None if answer is None or review.ai_guess is None else review.ai_guess == answer
        assert review.guess_correct == expected
        assert PRReview.objects.filter(pull_request_id=review.survey.pull_request_id,
                                       reviewer_id=review.reviewer_id).exists()


def test_ai_usage(seeded):
    usage = of_spec(AIUsageDaily)
    users = of_spec(TeamMember).filter(is_active=True).exclude(github_username="")
    weekdays = [HISTORY_START.date() + timedelta(days=d) for d in range(28)]
    weekdays = [day for day in weekdays if day.weekday() < 5]
    assert usage.count() == users.count() * len(weekdays)
    assert set(usage.values_list("date", flat=True)) == set(weekdays)
    assert not usage.exclude(source="copilot").exists()
    assert not usage.filter(suggestions_accepted__gt=F("suggestions_shown")).exists()
    assert not usage.filter(lines_accepted__gt=F("lines_suggested")).exists()
    assert not usage.filter(suggestions_shown=0, acceptance_rate__isnull=False).exists()
    assert not usage.filter(suggestions_shown__gt=0, acceptance_rate__isnull=True).exists()
    for row in usage.filter(suggestions_shown__gt=0)[:50]:
        expected = Decimal(100 * row.suggestions_accepted / row.suggestions_shown).quantize(Decimal("0.01"))
        assert abs(row.acceptance_rate - expected) <= Decimal("0.01")


def test_foreign_keys_hold_when_the_checks_run(monkeypatch):
    """Without skipping FK triggers (as for a non-superuser) the deferred checks pass."""
    monkeypatch.setattr(datagen, "_skip_foreign_key_triggers", lambda cursor: None)
    result = generate(SPEC, progress=False)
    assert result.foreign_key_checks_skipped is False
    connection.check_constraints()  # fires the deferred FK triggers queued by the COPYs


def test_fk_trigger_skip_falls_back_when_not_allowed():
    class RefusingCursor:
        def execute(self, statement, params=None):
            if statement.startswith("SET LOCAL"):
                raise DatabaseError("permission denied to set parameter")

        def fetchone(self):
            return ("origin",)

    assert datagen._skip_foreign_key_triggers(RefusingCursor()) is None


# --- errors and atomicity --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"teams": 0}, "teams must be at least 1"),
        ({"members_per_team": 1}, "members_per_team must be at least 2"),
        ({"prs_per_member": 0}, "prs_per_member must be at least 1"),
        ({"days": -3}, "days must be at least 1"),
        ({"seed": -1}, "seed must be at least 0"),
        ({"teams": 2.5}, "teams must be an integer"),
        ({"teams": True}, "teams must be an integer"),
        ({"end_date": "2025-01-01"}, "end_date must be a datetime.date"),
        ({"end_date": datetime(2025, 1, 1, tzinfo=UTC)}, "end_date must be a datetime.date"),
        ({"team_slug_prefix": "Demo Team"}, "team_slug_prefix"),
        ({"team_slug_prefix": ""}, "team_slug_prefix"),
        ({"team_slug_prefix": "x" * 99}, "too long"),
        ({"as_of": datetime(2025, 3, 31, 12)}, "as_of must be a timezone-aware datetime"),
        ({"as_of": date(2025, 3, 31)}, "as_of must be a timezone-aware datetime"),
        ({"as_of": datetime(2025, 3, 3, 23, 59, tzinfo=UTC)}, "precedes the history"),
    ],
)
def test_invalid_specs_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        DatasetSpec(**{**SPEC.__dict__, **changes})


def test_existing_slug_is_refused_and_nothing_is_written():
    Team.objects.create(name="Taken", slug="dg-2")
    with pytest.raises(SlugCollisionError, match="dg-2"):
        generate(SPEC, progress=False)
    assert not Team.objects.filter(slug="dg-1").exists()
    assert not of_spec(PullRequest).exists()


def test_a_failure_mid_load_leaves_nothing(monkeypatch):
    def copy_or_fail(cursor, table, columns, **kwargs):
        if table == PRSurvey._meta.db_table:
            raise RuntimeError("boom")
        return copy_columns(cursor, table, columns, **kwargs)

    monkeypatch.setattr(datagen, "copy_columns", copy_or_fail)
    with pytest.raises(RuntimeError, match="boom"):
        generate(SPEC, progress=False)
    assert not Team.objects.filter(slug__in=SPEC.team_slugs).exists()
    assert not of_spec(PullRequest).exists()


# --- the binary COPY encoder -----------------------------------------------------------------------


def test_copy_columns_round_trips_nulls_empty_strings_and_exact_values():
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE copy_probe (id bigint, small smallint, flag boolean, label varchar(50),"
            " fixed varchar(4), at timestamptz, day date, amount numeric(12, 2), rate numeric(5, 4))"
        )
        moments = np.array(["2025-03-31T23:59:59.123456", "1999-12-31T00:00:00", "2025-01-01"],
                           dtype="datetime64[us]")
        copy_columns(cursor.cursor, "copy_probe", {
            "id": np.arange(3),
            "small": np.ma.array([-5, 0, 7], mask=[False, True, False]),
            "flag": np.ma.array([True, False, False], mask=[False, False, True]),
            "label": Text(["", "Zoë's \"PR\",\nline two", "plain"], np.array([0, 1, -1])),
            "fixed": np.array([b"abcd", b"0123", b"ffff"]),
            "at": np.ma.array(moments, mask=[False, False, True]),
            "day": moments.astype("datetime64[D]"),
            "amount": np.ma.array([-123456789012, 5, 0], mask=[False, False, True]),
            "rate": np.array([1, 10_000, 12_345]),
        }, chunk_rows=2)
        cursor.execute("SELECT small, flag, label, fixed, at, day, amount, rate FROM copy_probe ORDER BY id")
        rows = cursor.fetchall()
    assert rows == [
        (-5, True, "", "abcd", datetime(2025, 3, 31, 23, 59, 59, 123456, tzinfo=UTC), date(2025, 3, 31),
         Decimal("-1234567890.12"), Decimal("0.0001")),
        (None, False, "Zoë's \"PR\",\nline two", "0123", datetime(1999, 12, 31, tzinfo=UTC),
         date(1999, 12, 31), Decimal("0.05"), Decimal("1.0000")),
        (7, None, None, "ffff", None, date(2025, 1, 1), None, Decimal("1.2345")),
    ]


def test_copy_columns_refuses_overflow_and_unknown_columns():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE copy_probe_small (n smallint)")
        with pytest.raises(ValueError, match="out of range"):
            copy_columns(cursor.cursor, "copy_probe_small", {"n": np.array([40_000])})
        with pytest.raises(ValueError, match="no column"):
            copy_columns(cursor.cursor, "copy_probe_small", {"m": np.array([1])})


# --- seed_demo -------------------------------------------------------------------------------------


def seed_demo(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", "--no-progress", "--end-date", "2025-03-31", *args, stdout=out)
    return out.getvalue()


def printed_password(output: str, user: str) -> str:
    match = re.search(rf"log in as {user} / (\S+)", output)
    assert match, output
    return match.group(1)


def test_seed_demo_creates_a_superuser_member_of_every_team():
    output = seed_demo("--teams", "2", "--members", "6", "--prs-per-member", "3", "--days", "14",
                       "--prefix", "cmd", "--user", "alice")
    user = get_user_model().objects.get(username="alice")
    assert user.is_staff and user.is_superuser
    assert set(Membership.objects.filter(user=user).values_list("team__slug", flat=True)) == {"cmd-1", "cmd-2"}
    assert user.check_password(printed_password(output, "alice"))
    assert "http://127.0.0.1:8000/" in output
    assert re.search(r"PullRequest\s+36\b", output)


def test_seed_demo_resets_an_existing_users_password():
    get_user_model().objects.create_user(username="demo", password="old-password-123")
    output = seed_demo("--members", "4", "--prs-per-member", "1", "--days", "7", "--prefix", "again")
    user = get_user_model().objects.get(username="demo")
    assert not user.check_password("old-password-123")
    assert user.check_password(printed_password(output, "demo"))
    assert user.is_superuser

    seed_demo("--members", "4", "--prs-per-member", "1", "--days", "7", "--prefix", "third",
              "--password", "chosen-pass-456")
    user.refresh_from_db()
    assert user.check_password("chosen-pass-456")
    assert Membership.objects.filter(user=user).count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--end-date", "31/03/2025"], "YYYY-MM-DD"),
        (["--members", "1"], "members_per_team must be at least 2"),
        (["--teams", "0"], "teams must be at least 1"),
        (["--prefix", "Bad Prefix"], "team_slug_prefix"),
    ],
)
def test_seed_demo_bad_options(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("seed_demo", "--no-progress", *args, stdout=io.StringIO())


def test_seed_demo_slug_collision_is_a_command_error():
    Team.objects.create(name="Taken", slug="demo-1")
    with pytest.raises(CommandError, match="already exist"):
        seed_demo()
    assert not get_user_model().objects.filter(username="demo").exists()


def test_seed_demo_skip_existing_keeps_the_data_and_regrants_the_login():
    args = ("--members", "4", "--prs-per-member", "2", "--days", "7", "--prefix", "kept", "--skip-existing")
    seed_demo(*args)
    prs_before = PullRequest.objects.filter(team__slug="kept-1").count()
    output = seed_demo(*args, "--password", "second-pass-789")
    assert "Kept the existing data of 1 team(s)" in output
    assert PullRequest.objects.filter(team__slug="kept-1").count() == prs_before  # nothing generated twice
    user = get_user_model().objects.get(username="demo")
    assert user.check_password("second-pass-789")
    assert Membership.objects.filter(user=user, team__slug="kept-1").count() == 1
