from django.contrib import admin

from apps.integrations.fields import UNREADABLE_TEXT, unreadable_fields
from apps.integrations.models import GitHubIntegration


@admin.register(GitHubIntegration)
class GitHubIntegrationAdmin(admin.ModelAdmin):
    list_display = [
        "team", "organization_slug", "copilot_synced_through", "post_survey_comments", "secrets", "updated_at",
    ]  # fmt: skip
    list_select_related = ["team"]
    # never shown back; set through the integration flow (the app's key and its cached installation token too)
    exclude = ["access_token", "previous_webhook_secret", "app_private_key", "app_token"]
    raw_id_fields = ["team"]
    # the app's id and installation change with its key, through the settings page's live check
    readonly_fields = ["secrets", "app_id", "app_installation_id", "app_token_expires_at", "survey_comments_enabled_at"]

    @admin.display(description="Secrets")
    def secrets(self, integration: GitHubIntegration) -> str:
        """Whether the configured keys read every stored secret; never a secret, nor its ciphertext."""
        unreadable = unreadable_fields(integration)
        if not unreadable:
            return "readable"
        names = ", ".join(GitHubIntegration._meta.get_field(name).verbose_name for name in unreadable)
        return f"{names}: {UNREADABLE_TEXT} (on the team's settings page)"
