"""Migration 0009: a survey's team is its PR's and a survey review's its survey's, enforced by PostgreSQL.

The composite foreign keys are DEFERRABLE INITIALLY DEFERRED like Django's own: a mismatch is refused at commit.
The tests that check a write either commit for real (``transactional_db``) or ask for the checks now with
SET CONSTRAINTS ALL IMMEDIATE (``connection.check_constraints``) inside the test's transaction. The migration
tests migrate for real and always migrate forward again at the end.
"""

import io
from importlib import import_module

import pytest
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, connection, transaction

from apps.metrics.factories import PRSurveyFactory, PRSurveyReviewFactory, PullRequestFactory
from apps.metrics.models import PRSurvey, PRSurveyReview, PullRequest
from apps.teams.factories import TeamFactory

MIGRATION = "0009_survey_team_is_pr_team"
SURVEY_FK = "prsurvey_same_team_as_pull_request"
REVIEW_FK = "prsurveyreview_same_team_as_survey"
UNIQUE_KEYS = {"metrics_pullrequest": "pullrequest_unique_id_team", "metrics_prsurvey": "prsurvey_unique_id_team"}
FOREIGN_KEYS = {
    SURVEY_FK: ("metrics_prsurvey", ["pull_request_id", "team_id"], "metrics_pullrequest"),
    REVIEW_FK: ("metrics_prsurveyreview", ["survey_id", "team_id"], "metrics_prsurvey"),
}


def constraints(names) -> dict[str, dict]:
    """Our constraints as they are in the database: name -> table, kind, columns, referenced table and flags."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.conname, c.conrelid::regclass::text, c.contype,
                   array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
                         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.n),
                   c.confrelid::regclass::text, array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY
                         AS k(attnum, n) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum
                         ORDER BY k.n),
                   c.condeferrable, c.condeferred, c.convalidated, c.confdeltype, c.confupdtype
            FROM pg_constraint c WHERE c.conname = ANY(%s)
            """,
            [list(names)],
        )
        return {
            row[0]: {
                "table": row[1], "type": row[2], "columns": list(row[3]), "references": row[4],
                "referenced_columns": list(row[5]), "deferrable": row[6], "deferred": row[7], "valid": row[8],
                "on_delete": row[9], "on_update": row[10],
            }
            for row in cursor.fetchall()
        }


def our_constraints() -> dict[str, dict]:
    return constraints([*UNIQUE_KEYS.values(), *FOREIGN_KEYS])


def assert_all_built() -> None:
    built = our_constraints()
    for table, name in UNIQUE_KEYS.items():
        assert built[name]["table"] == table and built[name]["type"] == "u", built[name]
        assert built[name]["columns"] == ["id", "team_id"]
    for name, (table, columns, target) in FOREIGN_KEYS.items():
        key = built[name]
        assert (key["table"], key["type"], key["columns"], key["references"]) == (table, "f", columns, target)
        assert key["referenced_columns"] == ["id", "team_id"]
        # like Django's single-column keys: checked at commit, ON DELETE/UPDATE NO ACTION ('a'), and validated
        assert key["deferrable"] and key["deferred"] and key["valid"], key
        assert (key["on_delete"], key["on_update"]) == ("a", "a")


def check_now():
    """The deferred checks, now, inside the test's transaction (PostgreSQL's error names the constraint)."""
    connection.check_constraints()


# --- the constraints hold ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_database_has_both_keys_valid_and_the_models_leave_them_to_the_migration():
    assert_all_built()
    declared = {c.name for model in (PullRequest, PRSurvey, PRSurveyReview) for c in model._meta.constraints}
    assert not declared & set(our_constraints())  # database-only (see the migration's docstring)
    call_command("makemigrations", "metrics", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
def test_a_survey_and_a_review_of_the_prs_team_are_accepted():
    review = PRSurveyReviewFactory()
    check_now()
    assert review.team_id == review.survey.team_id == review.survey.pull_request.team_id


@pytest.mark.django_db
def test_a_survey_of_another_team_than_its_prs_is_refused():
    pull_request = PullRequestFactory()
    PRSurveyFactory(pull_request=pull_request, team=TeamFactory())  # deferred: accepted until the check
    with pytest.raises(IntegrityError, match=SURVEY_FK):
        check_now()


@pytest.mark.django_db
def test_a_review_of_another_team_than_its_surveys_is_refused():
    survey = PRSurveyFactory()
    PRSurveyReviewFactory(survey=survey, team=TeamFactory())
    with pytest.raises(IntegrityError, match=REVIEW_FK):
        check_now()


@pytest.mark.django_db
def test_moving_a_surveyed_pr_or_its_survey_to_another_team_is_refused():
    review = PRSurveyReviewFactory()
    other = TeamFactory()
    with transaction.atomic():  # a savepoint: the refused update is rolled back
        PullRequest.objects.filter(pk=review.survey.pull_request_id).update(team=other)
        with pytest.raises(IntegrityError, match=SURVEY_FK):
            check_now()
        transaction.set_rollback(True)
    # the survey and its reviews together, to the PR's team: only the PR disagrees
    PRSurvey.objects.filter(pk=review.survey_id).update(team=other)
    PRSurveyReview.objects.filter(pk=review.pk).update(team=other)
    with pytest.raises(IntegrityError, match=SURVEY_FK):
        check_now()


def test_the_mismatch_is_refused_at_commit(transactional_db):
    pull_request = PullRequestFactory()
    with pytest.raises(IntegrityError, match=SURVEY_FK), transaction.atomic():
        PRSurveyFactory(pull_request=pull_request, team=TeamFactory())
    survey = PRSurveyFactory(pull_request=pull_request)  # autocommit: checked at once, and it holds
    with pytest.raises(IntegrityError, match=REVIEW_FK), transaction.atomic():
        PRSurveyReviewFactory(survey=survey, team=TeamFactory())
    assert PRSurvey.objects.get() == survey and not PRSurveyReview.objects.exists()


def test_deleting_a_pr_or_a_team_still_cascades_to_its_surveys(transactional_db):
    review = PRSurveyReviewFactory()
    review.survey.pull_request.delete()  # Django deletes the reviews and the survey first; NO ACTION is content
    assert not PRSurvey.objects.exists() and not PRSurveyReview.objects.exists()
    review = PRSurveyReviewFactory()
    review.team.delete()
    assert not PullRequest.objects.exists() and not PRSurvey.objects.exists() and not PRSurveyReview.objects.exists()


# --- the migration ------------------------------------------------------------------------------------------------


def test_the_migration_is_non_atomic_and_builds_without_long_locks(transactional_db):
    migration = import_module(f"apps.metrics.migrations.{MIGRATION}").Migration
    assert migration.atomic is False
    forward, backward = io.StringIO(), io.StringIO()
    call_command("sqlmigrate", "metrics", MIGRATION, stdout=forward)
    call_command("sqlmigrate", "metrics", MIGRATION, "--backwards", stdout=backward)
    forward, backward = forward.getvalue(), backward.getvalue()
    assert forward.count("CREATE UNIQUE INDEX CONCURRENTLY") == 2
    assert forward.count("UNIQUE USING INDEX") == 2
    assert forward.count("DEFERRABLE INITIALLY DEFERRED NOT VALID") == 2
    assert forward.count("VALIDATE CONSTRAINT") == 2
    # the check for disagreeing rows comes before anything is built, validation after both keys are added
    assert forward.index("RAISE EXCEPTION") < forward.index("CREATE UNIQUE INDEX")
    assert forward.rindex("NOT VALID") < forward.index("VALIDATE CONSTRAINT")
    # backwards: the foreign keys go before the unique constraints they reference
    first_unique = backward.index(f'DROP CONSTRAINT "{UNIQUE_KEYS["metrics_prsurvey"]}"')
    assert backward.index(f'DROP CONSTRAINT IF EXISTS "{SURVEY_FK}"') < first_unique
    assert backward.index(f'DROP CONSTRAINT IF EXISTS "{REVIEW_FK}"') < first_unique
    assert "BEGIN;" not in forward + backward  # no transaction around the concurrent builds


def test_migrating_back_drops_the_keys_and_forward_builds_them_again(migrate_forward_at_the_end):
    PRSurveyReviewFactory()  # existing, consistent rows are validated, not in the way
    call_command("migrate", "metrics", "0008", verbosity=0)
    assert our_constraints() == {}
    with connection.cursor() as cursor:
        assert not [name for name in UNIQUE_KEYS.values() if name in connection.introspection.get_constraints(
            cursor, "metrics_pullrequest") | connection.introspection.get_constraints(cursor, "metrics_prsurvey")]

    call_command("migrate", "metrics", verbosity=0)
    assert_all_built()


def test_existing_rows_of_another_team_stop_the_migration_with_their_counts(migrate_forward_at_the_end):
    call_command("migrate", "metrics", "0008", verbosity=0)
    # No TeamMember rows while back at 0008: the model's later columns (0010's user) are not there yet.
    strays = [PRSurveyFactory(pull_request=PullRequestFactory(author=None), team=TeamFactory()) for _ in range(2)]
    stray_review = PRSurveyReviewFactory(
        survey=PRSurveyFactory(pull_request=PullRequestFactory(author=None)), reviewer=None, team=TeamFactory()
    )
    try:
        with pytest.raises(DatabaseError) as refused:
            call_command("migrate", "metrics", verbosity=0)
        message = str(refused.value)
        assert "2 PR survey(s) have a team_id other than their pull request's" in message
        assert "1 PR survey review(s) a team_id other than their survey's" in message
        assert "nothing was changed" in message
        assert our_constraints() == {}  # refused before anything was built
        assert PRSurvey.objects.count() == 3 and PRSurveyReview.objects.count() == 1  # nor deleted
        from django.db.migrations.recorder import MigrationRecorder

        assert not MigrationRecorder.Migration.objects.filter(app="metrics", name=MIGRATION).exists()
    finally:
        for survey in strays:
            survey.delete()
        stray_review.delete()
    call_command("migrate", "metrics", verbosity=0)
    assert_all_built()
