"""The PR and member sync's tables (tracked repositories, sync status) and the webhook secret.

Existing integrations get a webhook secret of their own here (GitHubIntegration.save() fills it
for new ones); going back drops the column, so nothing needs undoing.
"""

import apps.integrations.fields
import django.db.models.deletion
from django.db import migrations, models


def fill_webhook_secrets(apps, schema_editor):
    from apps.integrations.models import new_webhook_secret

    GitHubIntegration = apps.get_model("integrations", "GitHubIntegration")
    for integration in GitHubIntegration.objects.filter(webhook_secret="").only("id"):
        integration.webhook_secret = new_webhook_secret()
        integration.save(update_fields=["webhook_secret"])


class Migration(migrations.Migration):

    dependencies = [
        ('integrations', '0002_verbose_names'),
        ('teams', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='githubintegration',
            name='webhook_secret',
            field=apps.integrations.fields.EncryptedTextField(blank=True, default=''),
        ),
        migrations.RunPython(fill_webhook_secrets, migrations.RunPython.noop),
        migrations.CreateModel(
            name='SyncStatus',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('members', 'Members'), ('repositories', 'Repositories'), ('pull_requests', 'Pull requests'), ('copilot', 'Copilot usage')], max_length=20)),
                ('state', models.CharField(choices=[('running', 'Running'), ('done', 'Done'), ('failed', 'Failed'), ('rate_limited', "Waiting for GitHub's rate limit")], max_length=20)),
                ('detail', models.TextField(blank=True, default='')),
                ('counts', models.JSONField(blank=True, default=dict, help_text='What the run stored, e.g. {"created": 3}.')),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('retry_at', models.DateTimeField(blank=True, help_text='When a rate-limited or failed run is retried.', null=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('team', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='sync_statuses', to='teams.team')),
            ],
            options={
                'verbose_name': 'sync status',
                'verbose_name_plural': 'sync statuses',
                'constraints': [models.UniqueConstraint(fields=('team', 'kind'), name='syncstatus_unique_team_kind'), models.CheckConstraint(condition=models.Q(('kind__in', ['members', 'repositories', 'pull_requests', 'copilot'])), name='syncstatus_kind_valid'), models.CheckConstraint(condition=models.Q(('state__in', ['running', 'done', 'failed', 'rate_limited'])), name='syncstatus_state_valid')],
            },
        ),
        migrations.CreateModel(
            name='TrackedRepository',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name_with_owner', models.CharField(help_text='owner/name, as PullRequest.github_repo stores it', max_length=200)),
                ('github_id', models.BigIntegerField(help_text="GitHub's databaseId of the repository.")),
                ('is_archived', models.BooleanField(default=False)),
                ('is_private', models.BooleanField(default=False)),
                ('is_tracked', models.BooleanField(default=False, help_text='Its pull requests are synced.')),
                ('pr_watermark', models.DateTimeField(blank=True, help_text='Newest updatedAt below which every PR is stored (null: never completed).', null=True)),
                ('resume_cursor', models.TextField(blank=True, default='', help_text='Where an unfinished sync continues (GraphQL endCursor); empty: from the top.')),
                ('pending_watermark', models.DateTimeField(blank=True, help_text='Newest updatedAt of the unfinished sync: the watermark once it completes.', null=True)),
                ('status', models.CharField(choices=[('pending', 'Not synced yet'), ('ok', 'OK'), ('not_found', 'Not found'), ('forbidden', 'Not readable'), ('failed', 'Failed')], default='pending', max_length=20)),
                ('status_detail', models.TextField(blank=True, default='')),
                ('last_synced_at', models.DateTimeField(blank=True, help_text='When a sync last committed its PRs (an unchanged re-sync writes nothing).', null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('team', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='tracked_repositories', to='teams.team')),
            ],
            options={
                'verbose_name': 'tracked repository',
                'verbose_name_plural': 'tracked repositories',
                'ordering': ['name_with_owner'],
                'constraints': [models.UniqueConstraint(fields=('team', 'name_with_owner'), name='trackedrepository_unique_team_name'), models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'ok', 'not_found', 'forbidden', 'failed'])), name='trackedrepository_status_valid'), models.CheckConstraint(condition=models.Q(('resume_cursor', ''), ('pending_watermark__isnull', False), _connector='OR'), name='trackedrepository_resume_has_pending')],
            },
        ),
    ]
