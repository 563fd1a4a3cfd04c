"""The forms of team creation, team settings and invites: shapes only; GitHub is asked by the services."""

from __future__ import annotations

import unicodedata

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from apps.teams.models import Invite, Team

# GitHub logins: letters, digits and single hyphens, not at either end, at most 39 characters.
organization_login = RegexValidator(
    r"\A[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}\Z",
    "An organisation login is 1 to 39 letters, digits or single hyphens, as in github.com/<login>.",
)
# Every GitHub token (ghp_…, github_pat_…, the old 40 hex digits) is letters, digits and underscores.
github_token = RegexValidator(
    r"\A[A-Za-z0-9_]{1,255}\Z",
    "A GitHub token is letters, digits and underscores, like ghp_… or github_pat_…; check what was pasted.",
)


def no_control_characters(value: str) -> None:
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in value):
        raise ValidationError("The name may not contain control or formatting characters.")


def organization_field() -> forms.CharField:
    return forms.CharField(
        label="GitHub organisation",
        max_length=39,
        validators=[organization_login],
        help_text="Its login, as in github.com/<login>.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


def token_field() -> forms.CharField:
    return forms.CharField(
        label="Access token",
        max_length=255,
        validators=[github_token],
        help_text="A fine-grained or classic personal access token that may read the organisation's members "
        "and pull requests (and, for Copilot figures, its Copilot metrics). It is checked with GitHub now "
        "and stored encrypted.",
        # never sent back to the browser, not even on an error
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )


class CreateTeamForm(forms.Form):
    name = forms.CharField(
        label="Team name", max_length=Team._meta.get_field("name").max_length, validators=[no_control_characters]
    )
    organization = organization_field()
    token = token_field()


class ConnectGitHubForm(forms.Form):
    organization = organization_field()
    token = token_field()


class ReplaceTokenForm(forms.Form):
    token = token_field()


class InviteForm(forms.Form):
    email = forms.EmailField(
        max_length=Invite._meta.get_field("email").max_length,
        label="Their email (optional)",
        required=False,
        help_text="A note to remember who the link is for; no email is sent.",
    )


class SignUpForm(UserCreationForm):
    """Username and password twice; Django's password validators run on the password."""
