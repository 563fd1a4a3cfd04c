"""Joins TeamMember.user (0010, which depends on 0001 alone; see 0010) with 0009."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("metrics", "0009_survey_team_is_pr_team"),
        ("metrics", "0010_teammember_user"),
    ]

    operations = []
