"""A survey's team is its PR's, and a survey review's team is its survey's: composite foreign keys.

Until now nothing stopped a metrics_prsurvey row from naming one team in team_id and a PR of another in
pull_request_id (nor a review a team other than its survey's), and every team-scoped read of the survey tables
trusts team_id. This migration makes PostgreSQL enforce both, in steps that never hold a long lock:

1. Count the rows that already disagree. If there are any, stop with the counts and change nothing: which team
   is right is for a person to decide, not for a migration to guess (the hint shows the usual repair, the PR's
   team). The check runs first so that a refusal leaves nothing half-built.
2. UNIQUE (id, team_id) on metrics_pullrequest and on metrics_prsurvey: what a composite foreign key must
   reference. They are built with CREATE UNIQUE INDEX CONCURRENTLY (so this migration is non-atomic, like 0003
   and 0007), then attached as constraints (ADD CONSTRAINT ... USING INDEX: no second scan, a brief lock).
3. FOREIGN KEY (pull_request_id, team_id) REFERENCES metrics_pullrequest (id, team_id) on the surveys and
   FOREIGN KEY (survey_id, team_id) REFERENCES metrics_prsurvey (id, team_id) on the reviews, added NOT VALID:
   a brief lock on both tables, no scan; from then on every insert and update is checked.
4. VALIDATE CONSTRAINT, each in its own transaction: scans the existing rows under a lock that lets reads and
   writes go on.

The foreign keys are exactly like the single-column ones Django made for these fields: DEFERRABLE INITIALLY
DEFERRED (checked at commit, so rows may be written in any order inside a transaction) and ON DELETE NO ACTION
(Django's on_delete=CASCADE runs in Python, deleting the reviews and surveys before the PR; a database-side
CASCADE here would let a raw DELETE of a PR succeed where the single-column key refuses it).

All four are database-only, and the models say so in a comment: Django 5.2 cannot declare a composite foreign
key, and the unique constraints, redundant as keys (id alone is unique), could never be violated, so declaring
them would only give Django's model validation a query to run and tests/metrics/test_models.py a constraint
without a possible violation.

If a concurrent build fails (cancelled, say), PostgreSQL leaves an INVALID index behind: drop it (DROP INDEX
CONCURRENTLY <name>) and migrate again. Backwards, the foreign keys are dropped, then the unique constraints
(which drops their indexes).
"""

from django.db import migrations

PR_KEY = "pullrequest_unique_id_team"
SURVEY_KEY = "prsurvey_unique_id_team"
SURVEY_FK = "prsurvey_same_team_as_pull_request"
REVIEW_FK = "prsurveyreview_same_team_as_survey"

# One statement (a DO block), so it is one transaction and needs no parameters; RAISE's % are its own.
REFUSE_MISMATCHED_TEAMS = """
DO $$
DECLARE
    surveys bigint;
    reviews bigint;
BEGIN
    SELECT count(*) INTO surveys
    FROM metrics_prsurvey s JOIN metrics_pullrequest p ON p.id = s.pull_request_id
    WHERE s.team_id <> p.team_id;
    SELECT count(*) INTO reviews
    FROM metrics_prsurveyreview r JOIN metrics_prsurvey s ON s.id = r.survey_id
    WHERE r.team_id <> s.team_id;
    IF surveys > 0 OR reviews > 0 THEN
        RAISE EXCEPTION 'metrics 0009: % PR survey(s) have a team_id other than their pull request''s and % PR '
                        'survey review(s) a team_id other than their survey''s; nothing was changed', surveys, reviews
            USING HINT = 'Correct those rows, then migrate again. To give each survey its PR''s team, then each '
                         'review its survey''s: UPDATE metrics_prsurvey s SET team_id = p.team_id FROM '
                         'metrics_pullrequest p WHERE p.id = s.pull_request_id AND s.team_id <> p.team_id; '
                         'UPDATE metrics_prsurveyreview r SET team_id = s.team_id FROM metrics_prsurvey s '
                         'WHERE s.id = r.survey_id AND r.team_id <> s.team_id;';
    END IF;
END
$$
"""


def unique_id_team(table: str, name: str) -> list[migrations.RunSQL]:
    return [
        migrations.RunSQL(
            f'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON "{table}" ("id", "team_id")',
            reverse_sql=f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"',
        ),
        migrations.RunSQL(
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" UNIQUE USING INDEX "{name}"',
            reverse_sql=f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"',
        ),
    ]


def same_team_foreign_key(table: str, name: str, column: str, target: str) -> list[migrations.RunSQL]:
    return [
        migrations.RunSQL(
            f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" FOREIGN KEY ("{column}", "team_id") '
            f'REFERENCES "{target}" ("id", "team_id") DEFERRABLE INITIALLY DEFERRED NOT VALID',
            reverse_sql=f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{name}"',
        ),
    ]


def validate(table: str, name: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        f'ALTER TABLE "{table}" VALIDATE CONSTRAINT "{name}"', reverse_sql=migrations.RunSQL.noop
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("metrics", "0008_merge_sync_fields"),
    ]

    operations = [
        migrations.RunSQL([REFUSE_MISMATCHED_TEAMS], reverse_sql=migrations.RunSQL.noop),
        *unique_id_team("metrics_pullrequest", PR_KEY),
        *unique_id_team("metrics_prsurvey", SURVEY_KEY),
        *same_team_foreign_key("metrics_prsurvey", SURVEY_FK, "pull_request_id", "metrics_pullrequest"),
        *same_team_foreign_key("metrics_prsurveyreview", REVIEW_FK, "survey_id", "metrics_prsurvey"),
        validate("metrics_prsurvey", SURVEY_FK),
        validate("metrics_prsurveyreview", REVIEW_FK),
    ]
