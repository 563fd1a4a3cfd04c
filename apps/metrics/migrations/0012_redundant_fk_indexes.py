"""Drop single-column foreign-key indexes a unique index already leads with; index commits by (team, committed_at).

Each dropped index is a leading prefix of a unique index of its table, which serves every lookup by that column
(the foreign key's cascades included) and is kept for its constraint (notebooks/11_index_health.ipynb,
tests/test_index_prefixes.py): aiusagedaily, commit, prreview and weeklymetrics team_id, prsurveyreview survey_id.
(team, committed_at) is for the weekly aggregation's commit count and a team's first commit, which read a team's
commits in a time range; notebook 11 weighs it. As in 0003 and 0004, every build and drop is CONCURRENTLY, so
writers are never blocked, hence not atomic. A cancelled concurrent build leaves an INVALID index: drop it and
migrate again.
"""

import django.db.models.deletion
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

# name -> (table, column), the names Django gave them in 0001
_INDEXES = {
    "metrics_aiusagedaily_team_id_8061cffc": ("metrics_aiusagedaily", "team_id"),
    "metrics_commit_team_id_92b2ddfe": ("metrics_commit", "team_id"),
    "metrics_prreview_team_id_718510a7": ("metrics_prreview", "team_id"),
    "metrics_prsurveyreview_survey_id_df45a48d": ("metrics_prsurveyreview", "survey_id"),
    "metrics_weeklymetrics_team_id_e77fb32d": ("metrics_weeklymetrics", "team_id"),
}


def _team(related_name):
    return models.ForeignKey(
        db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name=related_name, to="teams.team"
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("metrics", "0011_merge_teammember_user"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="commit",
            index=models.Index(fields=["team", "committed_at"], name="commit_team_committed_idx"),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(model_name="aiusagedaily", name="team", field=_team("ai_usage")),
                migrations.AlterField(model_name="commit", name="team", field=_team("commits")),
                migrations.AlterField(model_name="prreview", name="team", field=_team("pr_reviews")),
                migrations.AlterField(
                    model_name="prsurveyreview",
                    name="survey",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="reviews",
                        to="metrics.prsurvey",
                    ),
                ),
                migrations.AlterField(model_name="weeklymetrics", name="team", field=_team("weekly_metrics")),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
                    reverse_sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} ({column})",
                )
                for name, (table, column) in _INDEXES.items()
            ],
        ),
    ]
