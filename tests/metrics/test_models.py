"""Metrics models: every database constraint rejects a bad row and writes nothing.

Each violation below is registered under the name of the constraint it must trip; the test
checks PostgreSQL names that very constraint (not some other one that happens to fail), and
a last test checks that every constraint the models declare has a registered violation.
"""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction

from apps.metrics.factories import (
    AIUsageDailyFactory,
    CommitFactory,
    PRReviewFactory,
    PRSurveyFactory,
    PRSurveyReviewFactory,
    PullRequestFactory,
    TeamMemberFactory,
    WeeklyMetricsFactory,
)
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
from apps.teams.factories import TeamFactory, UserFactory
from tests.support import assert_rejected, constraint_name

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
MONDAY = dt.date(2026, 3, 2)
assert MONDAY.isoweekday() == 1



# --- the violations, one or more per constraint ------------------------------------------------
# Each builds its valid surroundings first (outside the failing transaction) and returns
# (model, write): ``write`` makes exactly one bad write of a ``model`` row.

VIOLATIONS: dict[str, tuple[str, object]] = {}


def violation(constraint: str):
    def register(build):
        VIOLATIONS[build.__name__.lstrip("_")] = (constraint, build)
        return build

    return register


def _pr_kwargs(team, **overrides):
    kwargs = dict(
        team=team,
        author=None,
        github_pr_id=1,
        github_repo="acme/app",
        title="Add thing",
        state="merged",
        pr_created_at=T0,
        merged_at=T0 + dt.timedelta(hours=5),
    )
    kwargs.update(overrides)
    return kwargs


@violation("teammember_unique_team_github_username")
def _member_same_username_same_team():
    # logins compare case-insensitively, so a differently cased duplicate is a duplicate too
    member = TeamMemberFactory(github_username="octocat")
    return TeamMember, lambda: TeamMemberFactory(team=member.team, github_username="OctoCat")


@violation("teammember_unique_team_github_id")
def _member_same_github_id_same_team():
    member = TeamMemberFactory(github_id="583231")
    return TeamMember, lambda: TeamMemberFactory(
        team=member.team, github_username="someone-else", github_id="583231"
    )


@violation("teammember_unique_team_user")
def _member_same_user_same_team():
    member = TeamMemberFactory(user=UserFactory())
    return TeamMember, lambda: TeamMemberFactory(team=member.team, user=member.user)


@violation("teammember_role_valid")
def _member_unknown_role():
    team = TeamFactory()
    return TeamMember, lambda: TeamMemberFactory(team=team, role="intern")


@violation("pullrequest_unique_repo_number")
def _pr_same_repo_and_number():
    team = TeamFactory()
    PullRequest.objects.create(**_pr_kwargs(team, github_pr_id=7))
    return PullRequest, lambda: PullRequest.objects.create(
        **_pr_kwargs(team, github_pr_id=7, title="other")
    )


@violation("pullrequest_state_valid")
def _pr_unknown_state():
    team = TeamFactory()
    return PullRequest, lambda: PullRequest.objects.create(
        **_pr_kwargs(team, state="draft", merged_at=None)
    )


@violation("pullrequest_merged_at_iff_merged")
def _pr_merged_without_merged_at():
    team = TeamFactory()
    return PullRequest, lambda: PullRequest.objects.create(**_pr_kwargs(team, merged_at=None))


@violation("pullrequest_merged_at_iff_merged")
def _pr_open_with_merged_at():
    team = TeamFactory()
    return PullRequest, lambda: PullRequest.objects.create(**_pr_kwargs(team, state="open"))


@violation("pullrequest_merged_at_iff_merged")
def _pr_closed_with_merged_at():
    team = TeamFactory()
    return PullRequest, lambda: PullRequest.objects.create(**_pr_kwargs(team, state="closed"))


@violation("pullrequest_merged_after_created")
def _pr_merged_before_created():
    team = TeamFactory()
    return PullRequest, lambda: PullRequest.objects.create(
        **_pr_kwargs(team, merged_at=T0 - dt.timedelta(seconds=1))
    )


@violation("pullrequest_cycle_time_nonnegative")
def _pr_negative_cycle_time():
    team = TeamFactory()
    return PullRequest, lambda: PullRequest.objects.create(
        **_pr_kwargs(team, cycle_time_hours=Decimal("-0.01"))
    )


@violation("pullrequest_review_time_nonnegative")
def _pr_negative_review_time():
    team = TeamFactory()
    return PullRequest, lambda: PullRequest.objects.create(
        **_pr_kwargs(team, review_time_hours=Decimal("-1"))
    )


@violation("prreview_state_valid")
def _review_unknown_state():
    pr = PullRequestFactory()
    return PRReview, lambda: PRReviewFactory(pull_request=pr, state="pending")  # GitHub never lists pending ones


@violation("prreview_unique_team_review_id")
def _review_same_github_id_same_team():
    review = PRReviewFactory(github_review_id=901)
    return PRReview, lambda: PRReviewFactory(pull_request=review.pull_request, github_review_id=901)


@violation("commit_unique_team_sha")
def _commit_same_sha_same_team():
    commit = CommitFactory(github_sha="a" * 40)
    return Commit, lambda: CommitFactory(
        team=commit.team, author=commit.author, github_sha="a" * 40, github_repo="acme/other"
    )


@violation("metrics_prsurvey_pull_request_id_key")
def _survey_second_on_same_pr():
    survey = PRSurveyFactory()
    return PRSurvey, lambda: PRSurveyFactory(pull_request=survey.pull_request)


@violation("prsurvey_answer_has_time")
def _survey_answer_without_time():
    pr = PullRequestFactory()
    return PRSurvey, lambda: PRSurveyFactory(
        pull_request=pr, author_ai_assisted=True, author_responded_at=None
    )


@violation("prsurvey_answer_has_time")
def _survey_negative_answer_without_time():
    pr = PullRequestFactory()
    return PRSurvey, lambda: PRSurveyFactory(
        pull_request=pr, author_ai_assisted=False, author_responded_at=None
    )


@violation("prsurvey_answer_has_time")
def _survey_time_without_answer():
    pr = PullRequestFactory()
    return PRSurvey, lambda: PRSurveyFactory(
        pull_request=pr, author_ai_assisted=None, author_responded_at=T0
    )


def _survey_and_reviewer():
    survey = PRSurveyFactory()
    return survey, TeamMemberFactory(team=survey.team)


@violation("prsurveyreview_quality_rating_1_to_3")
def _survey_review_rating_zero():
    survey, reviewer = _survey_and_reviewer()
    return PRSurveyReview, lambda: PRSurveyReviewFactory(
        survey=survey, reviewer=reviewer, quality_rating=0
    )


@violation("prsurveyreview_quality_rating_1_to_3")
def _survey_review_rating_four():
    survey, reviewer = _survey_and_reviewer()
    return PRSurveyReview, lambda: PRSurveyReviewFactory(
        survey=survey, reviewer=reviewer, quality_rating=4
    )


@violation("prsurveyreview_unique_survey_reviewer")
def _survey_review_twice_by_one_reviewer():
    survey, reviewer = _survey_and_reviewer()
    PRSurveyReviewFactory(survey=survey, reviewer=reviewer)
    return PRSurveyReview, lambda: PRSurveyReviewFactory(
        survey=survey, reviewer=reviewer, quality_rating=3
    )


@violation("aiusagedaily_unique_member_day_source")
def _ai_usage_same_member_day_source():
    usage = AIUsageDailyFactory(date=MONDAY)
    return AIUsageDaily, lambda: AIUsageDailyFactory(member=usage.member, date=MONDAY)


@violation("aiusagedaily_source_valid")
def _ai_usage_unknown_source():
    member = TeamMemberFactory()
    return AIUsageDaily, lambda: AIUsageDailyFactory(member=member, source="tabnine")


@violation("aiusagedaily_acceptance_rate_percent")
def _ai_usage_rate_below_zero():
    member = TeamMemberFactory()
    return AIUsageDaily, lambda: AIUsageDailyFactory(
        member=member, acceptance_rate=Decimal("-0.01")
    )


@violation("aiusagedaily_acceptance_rate_percent")
def _ai_usage_rate_above_hundred():
    member = TeamMemberFactory()
    return AIUsageDaily, lambda: AIUsageDailyFactory(
        member=member, acceptance_rate=Decimal("100.01")
    )


@violation("weeklymetrics_week_start_monday")
def _weekly_starting_tuesday():
    member = TeamMemberFactory()
    return WeeklyMetrics, lambda: WeeklyMetricsFactory(
        member=member, week_start=MONDAY + dt.timedelta(days=1)
    )


@violation("weeklymetrics_week_start_monday")
def _weekly_starting_sunday():
    # Sunday is day 1 of Django's ``week_day``, but not of ``iso_week_day``.
    member = TeamMemberFactory()
    return WeeklyMetrics, lambda: WeeklyMetricsFactory(
        member=member, week_start=MONDAY - dt.timedelta(days=1)
    )


@violation("weeklymetrics_unique_member_week")
def _weekly_same_member_week():
    weekly = WeeklyMetricsFactory(week_start=MONDAY)
    return WeeklyMetrics, lambda: WeeklyMetricsFactory(member=weekly.member, week_start=MONDAY)


@pytest.mark.django_db
@pytest.mark.parametrize("case", sorted(VIOLATIONS))
def test_constraint_rejects_violation_and_writes_nothing(case):
    constraint, build = VIOLATIONS[case]
    model, write = build()
    assert_rejected(model, constraint, write)


def test_every_declared_constraint_has_a_violation_test():
    declared = {
        constraint.name
        for model in apps.get_app_config("metrics").get_models()
        for constraint in model._meta.constraints
    }
    # unique=True fields (the survey's one-to-one) are constraints too
    declared |= {
        f"{model._meta.db_table}_{field.column}_key"
        for model in apps.get_app_config("metrics").get_models()
        for field in model._meta.local_fields
        if field.unique and not field.primary_key
    }
    tested = {constraint for constraint, _ in VIOLATIONS.values()}
    assert declared - tested == set(), "constraints without a violation test"


# --- what the constraints must still allow ------------------------------------------------------


@pytest.mark.django_db
def test_several_members_without_github_identity_are_allowed_on_one_team():
    team = TeamFactory()
    TeamMemberFactory.create_batch(3, team=team, github_username="", github_id="")
    assert team.members.filter(github_username="", github_id="").count() == 3


@pytest.mark.django_db
def test_same_github_identity_is_allowed_on_two_teams():
    first = TeamMemberFactory(github_username="octocat", github_id="583231")
    second = TeamMemberFactory(github_username="octocat", github_id="583231")
    assert first.team_id != second.team_id
    assert TeamMember.objects.filter(github_username="octocat").count() == 2


@pytest.mark.django_db
def test_same_pr_number_is_allowed_in_another_repo_or_team():
    team = TeamFactory()
    PullRequest.objects.create(**_pr_kwargs(team, github_pr_id=7))
    PullRequest.objects.create(**_pr_kwargs(team, github_pr_id=7, github_repo="acme/other"))
    PullRequest.objects.create(**_pr_kwargs(TeamFactory(), github_pr_id=7))
    assert PullRequest.objects.filter(github_pr_id=7).count() == 3


@pytest.mark.django_db
def test_pr_states_and_boundaries_that_are_allowed():
    team = TeamFactory()
    PullRequest.objects.create(**_pr_kwargs(team, github_pr_id=1, state="open", merged_at=None))
    PullRequest.objects.create(**_pr_kwargs(team, github_pr_id=2, state="closed", merged_at=None))
    # merged the instant it was opened; zero times are not negative
    PullRequest.objects.create(
        **_pr_kwargs(
            team,
            github_pr_id=3,
            merged_at=T0,
            cycle_time_hours=Decimal("0"),
            review_time_hours=Decimal("0"),
        )
    )
    assert PullRequest.objects.filter(team=team).count() == 3


@pytest.mark.django_db
def test_pr_update_that_breaks_merged_at_iff_merged_is_rejected():
    pr = PullRequestFactory(state="merged")
    merged_at = pr.merged_at
    with pytest.raises(IntegrityError) as excinfo:
        with transaction.atomic():
            PullRequest.objects.filter(pk=pr.pk).update(merged_at=None)
    assert constraint_name(excinfo.value) == "pullrequest_merged_at_iff_merged"
    pr.refresh_from_db()
    assert pr.merged_at == merged_at


@pytest.mark.django_db
def test_reviews_without_a_github_id_are_not_unique_and_a_github_id_is_per_team():
    pr = PullRequestFactory()
    PRReviewFactory.create_batch(3, pull_request=pr, github_review_id=None)
    PRReviewFactory(pull_request=pr, github_review_id=901, state="dismissed")
    PRReviewFactory(github_review_id=901)  # another team
    assert PRReview.objects.filter(pull_request=pr).count() == 4
    assert PRReview.objects.filter(github_review_id=901).count() == 2


@pytest.mark.django_db
def test_a_member_is_not_a_bot_unless_flagged_and_the_database_says_so_too():
    member = TeamMemberFactory()
    assert member.is_bot is False
    # datagen COPYs members without the column: the database default must fill it
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO metrics_teammember (team_id, display_name, email, github_username, github_id, is_active,"
            " role, created_at) VALUES (%s, 'Copied', '', 'copied', '', true, 'developer', now()) RETURNING id",
            [member.team_id],
        )
        copied = TeamMember.objects.get(pk=cursor.fetchone()[0])
    assert copied.is_bot is False


@pytest.mark.django_db
def test_same_sha_is_allowed_on_two_teams():
    CommitFactory(github_sha="b" * 40)
    CommitFactory(github_sha="b" * 40)
    assert Commit.objects.filter(github_sha="b" * 40).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("answer", [True, False])
def test_answered_survey_with_time_is_allowed(answer):
    survey = PRSurveyFactory(author_ai_assisted=answer, author_responded_at=T0)
    survey.refresh_from_db()
    assert survey.author_ai_assisted is answer


@pytest.mark.django_db
def test_unanswered_survey_is_allowed():
    survey = PRSurveyFactory(author_ai_assisted=None, author_responded_at=None)
    survey.refresh_from_db()
    assert survey.author_ai_assisted is None


@pytest.mark.django_db
@pytest.mark.parametrize("rating", [None, 1, 2, 3])
def test_quality_rating_within_range_or_null_is_allowed(rating):
    review = PRSurveyReviewFactory(quality_rating=rating)
    review.refresh_from_db()
    assert review.quality_rating == rating


@pytest.mark.django_db
def test_one_survey_may_have_several_reviewers():
    survey = PRSurveyFactory()
    PRSurveyReviewFactory.create_batch(3, survey=survey)
    assert survey.reviews.count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize("rate", [None, Decimal("0"), Decimal("100")])
def test_acceptance_rate_bounds_are_allowed(rate):
    usage = AIUsageDailyFactory(acceptance_rate=rate)
    usage.refresh_from_db()
    assert usage.acceptance_rate == rate


@pytest.mark.django_db
def test_same_member_and_day_is_allowed_for_another_source():
    usage = AIUsageDailyFactory(date=MONDAY, source="copilot")
    AIUsageDailyFactory(member=usage.member, date=MONDAY, source="cursor")
    assert AIUsageDaily.objects.filter(member=usage.member, date=MONDAY).count() == 2


@pytest.mark.django_db
def test_monday_week_start_is_allowed_and_next_week_too():
    weekly = WeeklyMetricsFactory(week_start=MONDAY)
    WeeklyMetricsFactory(member=weekly.member, week_start=MONDAY + dt.timedelta(weeks=1))
    assert WeeklyMetrics.objects.filter(member=weekly.member).count() == 2


# --- __str__ ------------------------------------------------------------------------------------

DEFAULT_STR = re.compile(r"\w+ object \(\d+\)")


def _examples():
    """One saved instance of every metrics model, with the text its __str__ must contain."""
    team = TeamFactory(name="Platform")
    member = TeamMemberFactory(team=team, display_name="Ada Lovelace", github_username="ada")
    pr = PullRequestFactory(
        team=team,
        author=member,
        github_repo="acme/app",
        github_pr_id=42,
        title="Fix the flux capacitor",
    )
    survey = PRSurveyFactory(pull_request=pr, author_ai_assisted=False)
    return {
        TeamMember: (member, ["Ada Lovelace", "ada"]),
        PullRequest: (pr, ["acme/app", "42", "Fix the flux capacitor"]),
        PRReview: (
            PRReviewFactory(pull_request=pr, state="changes_requested"),
            ["Changes requested", str(pr.pk)],
        ),
        Commit: (
            CommitFactory(team=team, github_repo="acme/app", github_sha="abcdef1234" + "0" * 30),
            ["acme/app", "abcdef1"],
        ),
        PRSurvey: (survey, [str(pr.pk), "not AI-assisted"]),
        PRSurveyReview: (
            PRSurveyReviewFactory(survey=survey, quality_rating=3),
            [str(survey.pk), "3"],
        ),
        AIUsageDaily: (
            AIUsageDailyFactory(member=member, date=MONDAY),
            ["Copilot", "2026-03-02", str(member.pk)],
        ),
        WeeklyMetrics: (
            WeeklyMetricsFactory(member=member, week_start=MONDAY),
            ["2026-03-02", str(member.pk)],
        ),
    }


@pytest.mark.django_db
def test_str_of_every_model_is_sensible():
    examples = _examples()
    assert set(examples) == set(apps.get_app_config("metrics").get_models())
    for model, (obj, expected_parts) in examples.items():
        text = str(obj)
        assert text.strip(), model
        assert not DEFAULT_STR.fullmatch(text), f"{model.__name__} has the default __str__"
        for part in expected_parts:
            assert part in text, f"{model.__name__}: {part!r} not in {text!r}"


@pytest.mark.django_db
def test_member_str_without_username_is_just_the_name():
    member = TeamMemberFactory(display_name="Grace Hopper", github_username="")
    assert str(member) == "Grace Hopper"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("answer", "word"), [(None, "unanswered"), (True, "AI-assisted"), (False, "not AI-assisted")]
)
def test_survey_str_tells_the_answer(answer, word):
    text = str(PRSurveyFactory(author_ai_assisted=answer))
    assert text.endswith(word)
    if answer is True:
        assert "not" not in text


# --- TeamMember.avatar_url and initials -------------------------------------------------------


@pytest.mark.parametrize(
    ("github_username", "github_id", "expected"),
    [
        ("octocat", "583231", "https://avatars.githubusercontent.com/u/583231?v=4"),
        ("", "583231", "https://avatars.githubusercontent.com/u/583231?v=4"),
        ("octocat", "", "https://github.com/octocat.png"),
        ("", "", ""),
    ],
)
def test_avatar_url(github_username, github_id, expected):
    member = TeamMember(display_name="X", github_username=github_username, github_id=github_id)
    assert member.avatar_url == expected


@pytest.mark.parametrize(
    ("display_name", "github_username", "expected"),
    [
        ("Ada Lovelace", "", "AL"),
        ("grace brewster hopper", "", "GH"),  # first and last word, upper-cased
        ("  Alan   Turing  ", "", "AT"),  # extra whitespace
        ("Jean-Luc Picard", "", "JP"),
        ("Cher", "", "CH"),  # one word: its first two letters
        ("Émile Zola", "", "ÉZ"),
        ("", "octocat", "OC"),  # no name: from the GitHub username
        ("", "", "?"),
    ],
)
def test_initials(display_name, github_username, expected):
    member = TeamMember(display_name=display_name, github_username=github_username)
    assert member.initials == expected


def test_member_properties_need_no_database():
    member = TeamMember(display_name="Ada Lovelace", github_username="ada", github_id="1")
    assert member.initials == "AL"
    assert member.avatar_url.endswith("/u/1?v=4")
