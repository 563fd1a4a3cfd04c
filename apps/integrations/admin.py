from django.contrib import admin

from apps.integrations.models import GitHubIntegration


@admin.register(GitHubIntegration)
class GitHubIntegrationAdmin(admin.ModelAdmin):
    list_display = ["team", "organization_slug", "copilot_synced_through", "post_survey_comments", "updated_at"]
    list_select_related = ["team"]
    # never shown back; set through the integration flow (the app's key and its cached installation token too)
    exclude = ["access_token", "previous_webhook_secret", "app_private_key", "app_token"]
    raw_id_fields = ["team"]
    # the app's id and installation change with its key, through the settings page's live check
    readonly_fields = ["app_id", "app_installation_id", "app_token_expires_at", "survey_comments_enabled_at"]
