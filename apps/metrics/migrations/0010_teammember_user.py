"""TeamMember.user: the login a member answers surveys as (nullable; unique per team when set).

Like 0006, it needs only the tables of 0001 and depends on nothing more: notebook 06 migrates
``metrics`` back to 0002 to measure the schema before problem 6 and runs today's models on it, so a
column the models read must survive that. 0011 joins this line with 0009.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('metrics', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='teammember',
            name='user',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='team_members', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddConstraint(
            model_name='teammember',
            constraint=models.UniqueConstraint(condition=models.Q(('user__isnull', False)), fields=('team', 'user'), name='teammember_unique_team_user'),
        ),
    ]
