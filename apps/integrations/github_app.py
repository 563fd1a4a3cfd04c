"""A GitHub App installation as a team's credential: app id + private key -> JWT -> installation token.

GitHub's flow (REST API 2022-11-28, "Authenticating as a GitHub App installation"):

1. The app signs a JSON web token with its private key: RS256, ``iss`` the app id, ``iat`` a minute in the past
   (GitHub's allowance for clock drift), ``exp`` at most ten minutes after ``iat`` (``app_jwt``).
2. With the JWT, ``GET /orgs/{org}/installation`` finds the app's installation on the organisation
   (``find_installation``): 404 when the app is not installed there.
3. With the JWT, ``POST /app/installations/{id}/access_tokens`` gives an installation token that reads what the
   installation may read, for an hour (``exchange_token``). The sync uses it like a token.

``client_for(integration)`` is what every sync path uses to make a client from an integration (``team_sync``,
the Copilot sync), and ``integration_token`` the credential it carries: a token integration's token as it is; an
app integration's cached installation token, or, when that expires within ``REFRESH_MARGIN`` (five minutes), a
new one from steps 1 and 3, stored with its expiry in one UPDATE. Two workers refreshing at the same moment both
get a token (GitHub issues as many as asked, each valid for its hour): the last UPDATE wins, nothing breaks. A
client of an app integration keeps its conditional-request cache under the installation
(``app:<id>:installation:<id>``), not the hourly token, so its ETags outlive a refresh.

Errors, named, each with the sentence to show and the form field it belongs beside (``GitHubAppRefused``):

- ``InvalidPrivateKey``: not a PEM RSA private key (or one with a passphrase); no request is made.
- ``UnknownApp``: GitHub knows no app with that id ("Integration not found").
- ``AppCredentialsRefused``: GitHub refused the JWT (401): the app id is not this key's app, the key was deleted
  from the app, or the clock is off.
- ``AppNotInstalled``: the app is not installed on the organisation (404), or the installation was removed.

Rate limits and outages (``RateLimited``, ``GitHubUnavailable``, ``MalformedResponse``) propagate as themselves:
they say nothing about the credential, and the tasks retry them.
"""

from __future__ import annotations

import datetime as dt

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone

from apps.integrations.fields import UnreadableSecret, is_unreadable
from apps.integrations.github import GitHubClient, GitHubError, InvalidToken, NotFound
from apps.integrations.github_records import AppInstallation, InstallationToken
from apps.integrations.models import GitHubIntegration

JWT_BACKDATE = dt.timedelta(seconds=60)  # iat: GitHub allows for clocks a minute apart
JWT_LIFETIME = dt.timedelta(minutes=10)  # exp - iat: GitHub refuses more than ten minutes
REFRESH_MARGIN = dt.timedelta(minutes=5)  # a cached installation token closer to its expiry is replaced
MAX_KEY_CHARS = 10_000  # a 4096-bit RSA key in PEM is about 3,300 characters


class GitHubAppRefused(Exception):
    """The app's credentials did not work; nothing was stored.

    ``message`` is the sentence for the person at the form, ``field`` the form field it belongs beside
    ("app_id", "private_key", or None for the form as a whole), ``status`` the page's HTTP status.
    """

    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field
        self.status = status


class InvalidPrivateKey(GitHubAppRefused):
    field = "private_key"


class UnknownApp(GitHubAppRefused):
    field = "app_id"


class AppCredentialsRefused(GitHubAppRefused):
    field = "app_id"


class AppNotInstalled(GitHubAppRefused):
    field = None


# --- the JWT ---------------------------------------------------------------------------------


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """The app's RSA private key from its PEM text (as GitHub's "Generate a private key" downloads it)."""
    text = (pem or "").strip().replace("\r\n", "\n")
    if not text:
        raise InvalidPrivateKey("Paste the app's private key (the .pem file GitHub downloaded).")
    if len(text) > MAX_KEY_CHARS or "-----BEGIN" not in text:
        raise InvalidPrivateKey(
            "That is not a PEM private key: it should start with -----BEGIN RSA PRIVATE KEY----- "
            "(the .pem file from the app's settings, General, Private keys)."
        )
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except TypeError as exc:  # encrypted: a passphrase would be needed
        raise InvalidPrivateKey("That private key is protected by a passphrase: paste GitHub's key as downloaded.") \
            from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidPrivateKey(
            "That private key could not be read (damaged or cut short while pasting?): paste the whole .pem file."
        ) from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidPrivateKey("GitHub App keys are RSA keys; that is another kind of key.")
    return key


def app_jwt(app_id: int, private_key: str | rsa.RSAPrivateKey, *, now: dt.datetime | None = None) -> str:
    """The app's JSON web token: RS256, ``iss`` = app id, ``iat`` a minute back, ``exp`` ten minutes after it."""
    key = private_key if isinstance(private_key, rsa.RSAPrivateKey) else load_private_key(private_key)
    issued = (now or timezone.now()) - JWT_BACKDATE
    claims = {
        "iat": int(issued.timestamp()),
        "exp": int((issued + JWT_LIFETIME).timestamp()),
        "iss": str(app_id),  # GitHub takes the id as a string or an integer
    }
    return jwt.encode(claims, key, algorithm="RS256")


# --- asking GitHub (with the JWT) ----------------------------------------------------------------


def _refused(error: InvalidToken | NotFound, app_id: int, organization: str = "") -> GitHubAppRefused:
    """What a 401 or 404 to the JWT means, as a named error."""
    if "Integration not found" in str(error):
        return UnknownApp(f"GitHub knows no app with id {app_id}: check the App ID on the app's settings page.")
    if isinstance(error, InvalidToken):
        return AppCredentialsRefused(
            f"GitHub refused the app's credentials: the private key is not the key of app {app_id} (a wrong App ID, "
            "or a key deleted from the app), or this server's clock is off."
        )
    where = f" on {organization}" if organization else ""
    return AppNotInstalled(
        f"App {app_id} is not installed{where}: install it on the organisation (the app's page, Install App), "
        "then try again."
    )


def find_installation(*, app_id: int, private_key: str, organization: str) -> AppInstallation:
    """The app's installation on ``organization`` (one request); the named errors above."""
    token = app_jwt(app_id, private_key)
    with GitHubClient(token, conditional=False) as client:
        try:
            installation = client.app_installation(organization)
        except (InvalidToken, NotFound) as error:
            raise _refused(error, app_id, organization) from error
    if installation.app_id != app_id:  # GitHub answers for the JWT's app: anything else is not this app
        raise AppCredentialsRefused(f"GitHub answered for app {installation.app_id}, not app {app_id}.")
    return installation


def exchange_token(*, app_id: int, private_key: str, installation_id: int) -> InstallationToken:
    """A new installation token for ``installation_id`` (one request); the named errors above."""
    token = app_jwt(app_id, private_key)
    with GitHubClient(token, conditional=False) as client:
        try:
            return client.create_installation_token(installation_id)
        except (InvalidToken, NotFound) as error:
            raise _refused(error, app_id) from error


# --- the credential of an integration ---------------------------------------------------------------


UNREADABLE_TOKEN = "the stored token cannot be read with the current keys: enter it again"
UNREADABLE_APP_KEY = "the stored GitHub App private key cannot be read with the current keys: connect the app again"


class UnreadableCredential(UnreadableSecret, GitHubError):
    """The integration's token or app key is stored under a key no longer configured (``fields``): only entering it
    again fixes it, so the syncs record it and never retry. A ``GitHubError`` too: where a GitHub failure stops
    a run (survey comments), this one does."""


def has_credential(integration: GitHubIntegration | None) -> bool:
    """A token or an app is stored (readable or not: an unreadable one is reported by ``client_for``)."""
    if integration is None:
        return False
    return integration.uses_app or bool(integration.access_token) or is_unreadable(integration.access_token)


def integration_token(integration: GitHubIntegration, *, now: dt.datetime | None = None) -> str:
    """The token a client of ``integration`` sends ("" when there is none).

    A token integration: its token. An app integration: its cached installation token while that has more than
    ``REFRESH_MARGIN`` left, else a new one (one exchange, one UPDATE; ``integration`` is updated in place).
    ``UnreadableCredential`` when the token, or the app's key, cannot be decrypted with the configured keys.
    """
    if not integration.uses_app:
        if is_unreadable(integration.access_token):
            raise UnreadableCredential(UNREADABLE_TOKEN)
        return integration.access_token
    now = now or timezone.now()
    expires_at = integration.app_token_expires_at
    if integration.app_token and expires_at is not None and expires_at - now > REFRESH_MARGIN:
        return integration.app_token  # an unreadable one is falsy: replaced by a new one below
    if is_unreadable(integration.app_private_key):
        raise UnreadableCredential(UNREADABLE_APP_KEY)
    fresh = exchange_token(
        app_id=integration.app_id, private_key=integration.app_private_key,
        installation_id=integration.app_installation_id,
    )
    GitHubIntegration.objects.filter(pk=integration.pk, app_id=integration.app_id).update(
        app_token=fresh.token, app_token_expires_at=fresh.expires_at
    )
    integration.app_token, integration.app_token_expires_at = fresh.token, fresh.expires_at
    return fresh.token


def cache_identity(integration: GitHubIntegration) -> str | None:
    """Whose conditional-request cache a client of ``integration`` uses: the installation's, for an app."""
    if integration.uses_app:
        return f"app:{integration.app_id}:installation:{integration.app_installation_id}"
    return None


def client_for(integration: GitHubIntegration, **options) -> GitHubClient:
    """A ``GitHubClient`` reading with ``integration``'s credential (``options`` go to the client)."""
    return GitHubClient(integration_token(integration), cache_identity=cache_identity(integration), **options)


def forget_app_token(team) -> bool:
    """GitHub refused the cached installation token (revoked): drop it, so the next client asks for a new one.
    One UPDATE; False when the team reads with a token (or had no cached installation token)."""
    with_app_token = GitHubIntegration.objects.filter(team=team, app_id__isnull=False).exclude(app_token="")
    return bool(with_app_token.update(app_token="", app_token_expires_at=None))
