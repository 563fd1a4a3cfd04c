"""Drop the single-column team_id and author_id indexes of pull requests, concurrently.

Migration 0003's (team, state, merged_at), (team, pr_created_at) and (author, state, merged_at) lead with
the same columns, so every lookup by team or author (the foreign keys' cascades included) still has an index.
Left in place, the smaller single-column indexes were what the planner picked for the team breakdown at 1M
PRs, reading each member's PRs of every state and date and filtering out four in five (perf_bench at 1M PRs:
the breakdown at 200 members 1.4-1.5x its hand-written SQL with them, 1.1x without). They also cost 17 MB and a write
per insert. DROP INDEX CONCURRENTLY does not block writers; it cannot run in a transaction, hence not atomic.
"""

from django.db import migrations, models
import django.db.models.deletion

_INDEXES = {
    "metrics_pullrequest_team_id_48d93192": "team_id",
    "metrics_pullrequest_author_id_a3e9758c": "author_id",
}


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("metrics", "0003_composite_indexes"),
        ("teams", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="pullrequest",
                    name="team",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="pull_requests",
                        to="teams.team",
                    ),
                ),
                migrations.AlterField(
                    model_name="pullrequest",
                    name="author",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="pull_requests",
                        to="metrics.teammember",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
                    reverse_sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON metrics_pullrequest ({column})",
                )
                for name, column in _INDEXES.items()
            ],
        ),
    ]
