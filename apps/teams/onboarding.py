"""Creating a team and connecting it to GitHub: the token is checked live before anything is stored.

``verify_github_access(org, token)`` is the one place that asks GitHub about a token
(``GitHubClient.check_access``). Every service here calls it first, outside any transaction, and
turns what GitHub said into ``GitHubAccessRefused``: a sentence for the person at the form, the
form field it is about, and the HTTP status of the page that shows it (400 when the token or the
organisation is wrong, 502/503 when GitHub could not say). Only then does one transaction write.
"""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

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
from apps.integrations.github_records import AccessReport
from apps.integrations.models import GitHubIntegration
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


def verify_github_access(org: str, token: str) -> AccessReport:
    """What ``token`` may read in ``org``, asked of GitHub now (``check_access`` caches nothing).

    Raises the client's errors: ``InvalidToken`` (401), ``OrganizationNotFound`` (404),
    ``MissingPermission`` (members or pull requests not readable), and the transport's
    ``RateLimited`` / ``GitHubUnavailable`` / ``MalformedResponse``.
    """
    with GitHubClient(token, conditional=False) as client:
        return client.check_access(org)


def check_github_access(org: str, token: str) -> AccessReport:
    """``verify_github_access``, its errors as ``GitHubAccessRefused`` with the sentence to show."""
    try:
        return verify_github_access(org, token)
    except InvalidToken as exc:
        raise GitHubAccessRefused(
            "The token was refused by GitHub (wrong, expired or revoked).", field="token"
        ) from exc
    except MissingPermission as exc:  # Forbidden too: a 403 on the organisation itself names no permission
        if not exc.permissions:
            needs = f" GitHub says it needs: {exc.accepted}." if getattr(exc, "accepted", "") else ""
            raise GitHubAccessRefused(
                f"GitHub refused this token access to {org} (if the organisation uses SAML single sign-on, "
                f"authorise the token for it).{needs}",
                field="token",
            ) from exc
        needed = ", ".join(f"read {name}" for name in exc.permissions)
        raise GitHubAccessRefused(
            f"The token is missing permissions in {org}: {needed}. Grant them (read-only is enough) and try again.",
            field="token",
        ) from exc
    except NotFound as exc:  # OrganizationNotFound, or any other 404 on the way
        raise GitHubAccessRefused(
            f"There is no organisation {org} on GitHub, or this token cannot see it.", field="organization"
        ) from exc
    except RateLimited as exc:
        raise GitHubAccessRefused(
            f"GitHub's rate limit for this token is used up; try again in {exc.wait_seconds} s. Nothing was saved.",
            field=None,
            status=503,
        ) from exc
    except (GitHubUnavailable, MalformedResponse) as exc:
        raise GitHubAccessRefused(
            "GitHub could not be asked about this token just now (no answer, or an answer that made no sense). "
            "Nothing was saved; try again in a moment.",
            field=None,
            status=502,
        ) from exc
    except GitHubError as exc:  # another 4xx, or GraphQL errors: GitHub refused the request itself
        status = f" (HTTP {exc.status})" if exc.status and exc.status >= 400 else ""
        raise GitHubAccessRefused(f"GitHub refused the check{status}. Nothing was saved.", field=None) from exc


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


def connect_github(*, team: Team, organization: str, token: str) -> AccessReport:
    """A team without GitHub gets its integration, once the token passes the live check."""
    report = check_github_access(organization, token)
    with transaction.atomic():  # two admins connecting at once: the last one's organisation and token stay
        GitHubIntegration.objects.update_or_create(
            team=team, defaults={"organization_slug": report.organization or organization, "access_token": token}
        )
    return report


def replace_github_token(*, team: Team, token: str) -> AccessReport:
    """A new token for the team's organisation, once it passes the live check; the old one is overwritten."""
    organization = GitHubIntegration.objects.values_list("organization_slug", flat=True).get(team=team)
    report = check_github_access(organization, token)
    with transaction.atomic():
        integration = GitHubIntegration.objects.select_for_update().get(team=team)
        integration.access_token = token
        integration.save(update_fields=["access_token", "updated_at"])
    return report


def remove_github_token(*, team: Team) -> bool:
    """Forget the team's token (the organisation and what was synced stay). False when there was none."""
    with transaction.atomic():
        with_token = GitHubIntegration.objects.filter(team=team).exclude(access_token="")
        return bool(with_token.update(access_token="", updated_at=timezone.now()))
