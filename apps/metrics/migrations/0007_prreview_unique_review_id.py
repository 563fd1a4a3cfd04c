"""The PR sync's upsert key on reviews, (team, github_review_id), built without blocking writers.

The unique index is built with CREATE UNIQUE INDEX CONCURRENTLY (so the migration is non-atomic),
then attached as the constraint the model declares (ADD CONSTRAINT ... USING INDEX: no second
scan). Backwards, dropping the constraint drops its index.
"""

from django.db import migrations, models

NAME = "prreview_unique_team_review_id"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("metrics", "0006_sync_fields"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "{NAME}" '
                    'ON "metrics_prreview" ("team_id", "github_review_id")',
                    reverse_sql=f'DROP INDEX CONCURRENTLY IF EXISTS "{NAME}"',
                ),
                migrations.RunSQL(
                    f'ALTER TABLE "metrics_prreview" ADD CONSTRAINT "{NAME}" UNIQUE USING INDEX "{NAME}"',
                    reverse_sql=f'ALTER TABLE "metrics_prreview" DROP CONSTRAINT "{NAME}"',
                ),
            ],
            state_operations=[
                migrations.AddConstraint(
                    model_name="prreview",
                    constraint=models.UniqueConstraint(fields=("team", "github_review_id"), name=NAME),
                ),
            ],
        ),
    ]
