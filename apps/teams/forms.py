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


# --- a GitHub App instead of a token ---------------------------------------------------------------


class SecretTextarea(forms.Textarea):
    """A textarea that never sends its value back to the browser, not even on an error (like the token's input)."""

    def format_value(self, value):
        return None


PEM_MAX_CHARS = 10_000  # a 4096-bit RSA key in PEM is about 3,300 characters


def pem_shape(value: str) -> None:
    """A PEM private key's shape (its contents are read by the service): its markers, and no control characters."""
    if any(unicodedata.category(char) in ("Cc", "Cf") and char not in "\r\n\t" for char in value):
        raise ValidationError("The private key may not contain control or formatting characters.")
    if "-----BEGIN" not in value or "PRIVATE KEY-----" not in value:
        raise ValidationError(
            "Paste the whole .pem file, from -----BEGIN RSA PRIVATE KEY----- to -----END RSA PRIVATE KEY-----."
        )


class GitHubAppForm(forms.Form):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "id_app_%s")  # beside the token form on one page: ids of its own
        super().__init__(*args, **kwargs)

    app_id = forms.IntegerField(
        label="App ID", min_value=1, max_value=2**31 - 1,
        help_text="On the app's settings page (General, About: App ID); not the client ID.",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    private_key = forms.CharField(
        label="Private key (PEM)", max_length=PEM_MAX_CHARS, validators=[pem_shape],
        help_text="A private key of the app (General, Private keys, Generate a private key): paste the .pem file. "
        "The app's installation on the organisation is found from it; the key is checked with GitHub now and "
        "stored encrypted.",
        widget=SecretTextarea(attrs={"rows": 6, "autocomplete": "off", "spellcheck": "false",
                                     "placeholder": "-----BEGIN RSA PRIVATE KEY-----"}),  # fmt: skip
    )


class ConnectGitHubAppForm(GitHubAppForm):
    """For a team not connected yet: the organisation too."""

    organization = organization_field()
    field_order = ["organization", "app_id", "private_key"]


class InviteForm(forms.Form):
    email = forms.EmailField(
        max_length=Invite._meta.get_field("email").max_length,
        label="Their email (optional)",
        required=False,
        help_text="A note to remember who the link is for; no email is sent.",
    )


class SignUpForm(UserCreationForm):
    """Username and password twice; Django's password validators run on the password."""


# --- GitHub: repositories to track, members' active toggle --------------------------------------

repository_name = RegexValidator(
    r"\A[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}/[A-Za-z0-9._-]{1,100}\Z",
    "A repository is owner/name, as on GitHub.",
)


class RepositorySearchForm(forms.Form):
    """``?q=`` filters the stored repositories; ``?list=1`` (the "List from GitHub" button) asks GitHub live."""

    q = forms.CharField(label="Search repositories", max_length=100, required=False,
                        validators=[no_control_characters])  # fmt: skip
    list = forms.BooleanField(required=False)


class RepositoryNamesField(forms.Field):
    """Several ``owner/name`` values of one form name (checkboxes or hidden inputs)."""

    widget = forms.MultipleHiddenInput
    MAX = 1000

    def to_python(self, value):
        if value in (None, ""):
            return []
        if not isinstance(value, list | tuple):
            value = [value]
        if len(value) > self.MAX:
            raise ValidationError(f"At most {self.MAX} repositories at once.")
        names = [str(name).strip() for name in value]
        for name in names:
            repository_name(name)
        return names


class TrackRepositoriesForm(forms.Form):
    shown = RepositoryNamesField(required=True)  # the rows the form listed
    track = RepositoryNamesField(required=False, widget=forms.CheckboxSelectMultiple)  # the checked ones

    def clean(self):
        cleaned = super().clean()
        shown = {name.lower() for name in cleaned.get("shown", [])}
        if any(name.lower() not in shown for name in cleaned.get("track", [])):
            raise ValidationError("A repository was checked that the form did not list.")
        return cleaned


class MemberActiveForm(forms.Form):
    member = forms.IntegerField(min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)
    active = forms.TypedChoiceField(choices=[("1", "active"), ("0", "inactive")], coerce=lambda value: value == "1")


class SurveyCommentsForm(forms.Form):
    """The settings page's "Post survey links as a PR comment" checkbox, posted to the settings page itself.

    A checked box sends ``post_survey_comments=on``, an unchecked one nothing (off); any other value is refused.
    """

    post_survey_comments = forms.TypedChoiceField(
        label="Post survey links as a PR comment",
        choices=[("on", "on")],
        coerce=lambda value: value == "on",
        required=False,
        empty_value=False,
    )
