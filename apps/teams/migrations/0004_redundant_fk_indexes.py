"""Drop teams_membership's user_id index: the unique (user, team) leads with it and serves every lookup by user.

DROP INDEX CONCURRENTLY does not block writers; it cannot run in a transaction, hence not atomic
(tests/test_index_prefixes.py, notebooks/11_index_health.ipynb).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

_NAME = "teams_membership_user_id_b6b997fa"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("teams", "0003_team_weekly_metrics_through"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="membership",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=f"DROP INDEX CONCURRENTLY IF EXISTS {_NAME}",
                    reverse_sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {_NAME} ON teams_membership (user_id)",
                ),
            ],
        ),
    ]
