"""Fields the GitHub sync stores: bots, GitHub's review ids, PR close and update times, dismissed reviews.

Every new column is nullable or has a database default, so ``datagen``'s binary COPY (which names
its columns) and rows written before the sync keep working. The unique constraint on reviews is
built concurrently by 0007.

This migration needs only the tables of 0001, and depends on nothing more: migrating ``metrics``
back to 0002 (notebook 06 measures the schema before problem 6 that way, running today's services
on it) unapplies 0003-0005 but keeps these columns, which today's models read. 0008 joins the two
lines again.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("metrics", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="teammember",
            name="is_bot",
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.AddField(
            model_name="pullrequest",
            name="closed_at",
            field=models.DateTimeField(blank=True, help_text="GitHub's closedAt (merged PRs are closed too).", null=True),
        ),
        migrations.AddField(
            model_name="pullrequest",
            name="github_updated_at",
            field=models.DateTimeField(
                blank=True,
                help_text="GitHub's updatedAt when the sync stored this PR (null: not from the sync).",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="prreview",
            name="github_review_id",
            field=models.BigIntegerField(
                blank=True, help_text="GitHub's databaseId of the review (null: not from the sync).", null=True
            ),
        ),
        migrations.AlterField(
            model_name="prreview",
            name="state",
            field=models.CharField(
                choices=[
                    ("approved", "Approved"),
                    ("changes_requested", "Changes requested"),
                    ("commented", "Commented"),
                    ("dismissed", "Dismissed"),
                ],
                max_length=20,
            ),
        ),
        migrations.RemoveConstraint(
            model_name="prreview",
            name="prreview_state_valid",
        ),
        migrations.AddConstraint(
            model_name="prreview",
            constraint=models.CheckConstraint(
                condition=models.Q(("state__in", ["approved", "changes_requested", "commented", "dismissed"])),
                name="prreview_state_valid",
            ),
        ),
    ]
