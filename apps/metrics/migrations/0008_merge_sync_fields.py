"""Joins the sync's columns (0006-0007, which depend on 0001 alone; see 0006) with 0003-0005."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("metrics", "0005_verbose_names"),
        ("metrics", "0007_prreview_unique_review_id"),
    ]

    operations = []
