"""Creating a team and connecting it to GitHub: the token is checked live before anything is stored.

``verify_github_access(org, token)`` is the one place that asks GitHub about a token
(``GitHubClient.check_access``). Every service here calls it first, outside any transaction, and
turns what GitHub said into ``GitHubAccessRefused``: a sentence for the person at the form, the
form field it is about, and the HTTP status of the page that shows it (400 when the token or the
organisation is wrong, 502/503 when GitHub could not say). Only then does one transaction write.

A GitHub App instead of a token (``connect_github_app``): the private key is read (no request when it is not a
PEM RSA key), the app's JWT finds its installation on the organisation and is exchanged for an installation
token, and that token goes through the same live check (without ``/user``: an installation is no user). Only then
are the app id, installation id, key and the installation token with its expiry stored, in one statement, and
the team's token, if it had one, forgotten: a team reads with one credential at a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from apps.integrations import github_app
from apps.integrations.github import (
    GitHubClient,
    GitHubError,
    GitHubUnavailable,
    InvalidToken,
    MalformedResponse,
    MissingPermission,
    NotFound,
    RateLimited,
)
from apps.integrations.github_records import AccessReport, AppInstallation
from apps.integrations.models import HAS_CREDENTIAL, GitHubIntegration
from apps.teams.models import Membership, Team

SLUG_MAX = Team._meta.get_field("slug").max_length
SLUG_BASE_MAX = SLUG_MAX - 10  # room for "-<n>" when the name's slug is taken
FALLBACK_SLUG = "team"


class GitHubAccessRefused(Exception):
    """GitHub did not accept this token for this organisation; nothing was stored.

    ``field`` is the form field the message belongs beside ("token", "organization", or None for
    the form as a whole); ``status`` is the HTTP status of the page that shows it.
    """

    def __init__(self, message: str, *, field: str | None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


def verify_github_access(org: str, token: str, *, installation: bool = False) -> AccessReport:
    """What ``token`` may read in ``org``, asked of GitHub now (``check_access`` caches nothing).

    Raises the client's errors: ``InvalidToken`` (401), ``OrganizationNotFound`` (404),
    ``MissingPermission`` (members or pull requests not readable), and the transport's
    ``RateLimited`` / ``GitHubUnavailable`` / ``MalformedResponse``. ``installation``: a GitHub App's
    installation token (``/user`` is not asked).
    """
    with GitHubClient(token, conditional=False) as client:
        return client.check_access(org, installation=installation)


def check_github_access(org: str, token: str, *, installation: bool = False) -> AccessReport:
    """``verify_github_access``, its errors as ``GitHubAccessRefused`` with the sentence to show."""
    try:
        return verify_github_access(org, token, installation=installation)
    except GitHubError as exc:
        raise access_refusal(org, exc, installation=installation) from exc


def access_refusal(org: str, exc: GitHubError, *, installation: bool = False) -> GitHubAccessRefused:
    """What an error of ``verify_github_access`` means, as the ``GitHubAccessRefused`` to show."""
    if isinstance(exc, InvalidToken):
        return GitHubAccessRefused("The token was refused by GitHub (wrong, expired or revoked).", field="token")
    if isinstance(exc, MissingPermission):  # Forbidden too: a 403 on the organisation itself names no permission
        if not exc.permissions:
            needs = f" GitHub says it needs: {exc.accepted}." if getattr(exc, "accepted", "") else ""
            return GitHubAccessRefused(
                f"GitHub refused this token access to {org} (if the organisation uses SAML single sign-on, "
                f"authorise the token for it).{needs}",
                field="token",
            )
        needed = ", ".join(f"read {name}" for name in exc.permissions)
        if installation:
            return GitHubAccessRefused(
                f"The app's installation on {org} may not {needed}. Grant them in the app's permissions (read-only "
                "is enough), accept the new permissions on the organisation, and try again.",
                field=None,
            )
        return GitHubAccessRefused(
            f"The token is missing permissions in {org}: {needed}. Grant them (read-only is enough) and try again.",
            field="token",
        )
    if isinstance(exc, NotFound):  # OrganizationNotFound, or any other 404 on the way
        return GitHubAccessRefused(
            f"There is no organisation {org} on GitHub, or this token cannot see it.", field="organization"
        )
    if isinstance(exc, RateLimited):
        return GitHubAccessRefused(
            f"GitHub's rate limit for this token is used up; try again in {exc.wait_seconds} s. Nothing was saved.",
            field=None,
            status=503,
        )
    if isinstance(exc, GitHubUnavailable | MalformedResponse):
        return GitHubAccessRefused(
            "GitHub could not be asked about this token just now (no answer, or an answer that made no sense). "
            "Nothing was saved; try again in a moment.",
            field=None,
            status=502,
        )
    # another 4xx, or GraphQL errors: GitHub refused the request itself
    status = f" (HTTP {exc.status})" if exc.status and exc.status >= 400 else ""
    return GitHubAccessRefused(f"GitHub refused the check{status}. Nothing was saved.", field=None)


# --- slugs -----------------------------------------------------------------------------------


def slug_base(name: str) -> str:
    """The slug a name asks for: Django's ``slugify``, shortened, ``team`` when nothing is left."""
    return slugify(name)[:SLUG_BASE_MAX].strip("-_") or FALLBACK_SLUG


def free_slug(name: str) -> str:
    """``slug_base(name)`` if no team has it, else the first free ``<base>-2``, ``<base>-3``...: one statement."""
    base = slug_base(name)
    pattern = re.compile(rf"{re.escape(base)}-([0-9]+)")
    near = Q(slug=base) | Q(slug__startswith=f"{base}-")  # the slug's unique index serves both
    taken = set(Team.objects.filter(near).values_list("slug", flat=True))
    if base not in taken:
        return base
    used = {int(m.group(1)) for slug in taken if (m := pattern.fullmatch(slug)) and len(m.group(1)) < 9}
    return f"{base}-{min(set(range(2, len(used) + 3)) - used)}"


def _insert_team(name: str) -> Team:
    """A new team with a free slug; a slug taken meanwhile by a concurrent insert is retried."""
    for _attempt in range(5):
        try:
            with transaction.atomic():  # a savepoint: the outer transaction survives a clash
                return Team.objects.create(name=name, slug=free_slug(name))
        except IntegrityError:
            continue
    raise IntegrityError(f"no free slug for {name!r} after 5 attempts")


# --- writes ----------------------------------------------------------------------------------


def create_team(*, creator, name: str, organization: str, token: str) -> tuple[Team, AccessReport]:
    """Check the token live, then in one transaction: the team, its creator as admin, its GitHub integration.

    Raises ``GitHubAccessRefused`` (nothing written) when GitHub does not accept the token.
    The organisation is stored as GitHub spells its login.
    """
    report = check_github_access(organization, token)
    with transaction.atomic():
        team = _insert_team(name)
        Membership.objects.create(user=creator, team=team, role=Membership.Role.ADMIN)
        GitHubIntegration.objects.create(
            team=team, organization_slug=report.organization or organization, access_token=token
        )
    return team, report


# a token replaces an app, and the other way round: a team reads with one credential at a time
NO_APP = {
    "app_id": None, "app_installation_id": None, "app_private_key": "", "app_token": "", "app_token_expires_at": None,
}
APP_FIELDS = list(NO_APP)


def connect_github(*, team: Team, organization: str, token: str) -> AccessReport:
    """A team without GitHub gets its integration, once the token passes the live check."""
    report = check_github_access(organization, token)
    with transaction.atomic():  # two admins connecting at once: the last one's organisation and token stay
        GitHubIntegration.objects.update_or_create(
            team=team,
            defaults={"organization_slug": report.organization or organization, "access_token": token, **NO_APP},
        )
    return report


def replace_github_token(*, team: Team, token: str) -> AccessReport:
    """A new token for the team's organisation, once it passes the live check; the old token (or app) is gone."""
    organization = GitHubIntegration.objects.values_list("organization_slug", flat=True).get(team=team)
    report = check_github_access(organization, token)
    with transaction.atomic():
        integration = GitHubIntegration.objects.select_for_update().get(team=team)
        integration.access_token = token
        for name, value in NO_APP.items():
            setattr(integration, name, value)
        integration.save(update_fields=["access_token", *APP_FIELDS, "updated_at"])
    return report


def remove_github_token(*, team: Team) -> bool:
    """Forget the team's credential, a token or a GitHub App (the organisation and what was synced stay).
    One UPDATE; False when there was none."""
    with transaction.atomic():
        with_credential = GitHubIntegration.objects.filter(HAS_CREDENTIAL, team=team)
        return bool(with_credential.update(access_token="", **NO_APP, updated_at=timezone.now()))


# --- a GitHub App instead of a token --------------------------------------------------------------


@dataclass(frozen=True)
class AppConnection:
    """What connecting an app found: its installation on the organisation and what that may read."""

    app_id: int
    installation: AppInstallation
    access: AccessReport


def check_github_app(*, organization: str, app_id: int, private_key: str):
    """The app's key read, its installation on ``organization`` found and exchanged for a token, and that token
    checked live: ``(AppConnection, InstallationToken)``. ``GitHubAccessRefused`` (nothing stored) when any step
    fails, with the field it is about ("app_id", "private_key", "organization" or None). Requests: one for the
    installation, one exchange, then the token check's (five at most)."""
    try:
        key = github_app.load_private_key(private_key)  # before any request
        installation = github_app.find_installation(app_id=app_id, private_key=key, organization=organization)
        token = github_app.exchange_token(app_id=app_id, private_key=key, installation_id=installation.id)
    except github_app.GitHubAppRefused as refused:
        raise GitHubAccessRefused(refused.message, field=refused.field, status=refused.status) from refused
    except GitHubError as exc:  # rate limits, outages, nonsense answers on the way
        raise access_refusal(organization, exc, installation=True) from exc
    access = check_github_access(installation.account or organization, token.token, installation=True)
    return AppConnection(app_id=app_id, installation=installation, access=access), token


def connect_github_app(*, team: Team, app_id: int, private_key: str, organization: str | None = None) -> AppConnection:
    """The team reads GitHub through app ``app_id``'s installation on its organisation (``organization`` for a
    team not connected yet), once ``check_github_app`` passes; then one statement stores the app, its key, the
    installation and the installation token just issued (the first sync needs no exchange), and forgets the
    team's token if it had one."""
    if organization is None:
        organization = GitHubIntegration.objects.values_list("organization_slug", flat=True).get(team=team)
    connection, token = check_github_app(organization=organization, app_id=app_id, private_key=private_key)
    app = {
        "app_id": app_id, "app_installation_id": connection.installation.id,
        "app_private_key": private_key.strip().replace("\r\n", "\n") + "\n",
        "app_token": token.token, "app_token_expires_at": token.expires_at,
    }
    organization = connection.access.organization or connection.installation.account or organization
    with transaction.atomic():  # two admins at once: the last one's app stays
        GitHubIntegration.objects.update_or_create(
            team=team, defaults={"organization_slug": organization, "access_token": "", **app}
        )
    return connection
