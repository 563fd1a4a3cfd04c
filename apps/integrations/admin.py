from django.contrib import admin

from apps.integrations.models import GitHubIntegration


@admin.register(GitHubIntegration)
class GitHubIntegrationAdmin(admin.ModelAdmin):
    list_display = ["team", "organization_slug", "copilot_synced_through", "updated_at"]
    list_select_related = ["team"]
    exclude = ["access_token", "previous_webhook_secret"]  # never shown back; set through the integration flow
    raw_id_fields = ["team"]
