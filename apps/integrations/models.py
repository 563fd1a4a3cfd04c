from django.db import models

from apps.integrations.fields import EncryptedTextField


class GitHubIntegration(models.Model):
    team = models.OneToOneField("teams.Team", on_delete=models.CASCADE, related_name="github_integration")
    organization_slug = models.CharField(max_length=100)
    access_token = EncryptedTextField(blank=True, default="")
    copilot_synced_through = models.DateField(
        null=True, blank=True, help_text="Last day whose Copilot metrics have been stored."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "GitHub integration"
        verbose_name_plural = "GitHub integrations"

    def __str__(self) -> str:
        return f"GitHub {self.organization_slug} for {self.team}"
