"""Team access: the one place that decides which teams a user may see, and which they administer."""

from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from apps.teams.models import Invite, Membership, Team


def teams_for_user(user) -> QuerySet[Team]:
    """Teams the user belongs to, ordered by name. Anonymous users see none."""
    if not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user).order_by("name", "id")


def get_team_for_user(user, slug: str) -> Team:
    """The team with this slug if the user belongs to it; 404 otherwise (no existence leak)."""
    team = teams_for_user(user).filter(slug=slug).first()
    if team is None:
        raise Http404("No such team.")
    return team


def get_team_for_admin(user, slug: str) -> Team:
    """The team with this slug if the user is one of its admins; 404 otherwise.

    A member who is not an admin gets the same 404 as someone else's team or no team at all:
    a settings URL never tells who administers what. One statement.
    """
    if not user.is_authenticated:
        raise Http404("No such team.")
    # One filter() for both conditions: chained, each would join memberships anew, and "the user
    # is a member" plus "someone is an admin" would pass for a member who is not an admin.
    team = Team.objects.filter(slug=slug, memberships__user=user, memberships__role=Membership.Role.ADMIN).first()
    if team is None:
        raise Http404("No such team.")
    return team


def teams_for_home(user) -> QuerySet[Team]:
    """The user's teams with ``member_count`` (active GitHub members) and ``is_admin``: one statement."""
    admin = Membership.objects.filter(team=OuterRef("pk"), user=user.pk, role=Membership.Role.ADMIN)
    return teams_for_user(user).annotate(
        member_count=Count("members", filter=Q(members__is_active=True)),
        is_admin=Exists(admin),
    )


def team_settings(team: Team) -> dict:
    """What the settings page shows, in six statements whatever the team's size.

    - ``github``: ``{"organization", "token_set", "app_id", "app_installation_id", "copilot_synced_through", "id",
      "webhook_secret", "post_survey_comments", "survey_comments_enabled_at", "survey_comments_posted"}``
      or None (``app_id`` set: it reads through a GitHub App installation instead of a token), with
      ``unreadable_secrets``' flags. The token and the app's key are decrypted only to tell whether they can be:
      neither is returned.
    - ``memberships``: ``{"user__username", "user__email", "role", "created_at"}``, admins first, then by
      username.
    - ``invites``: the open ones (unused, unexpired), newest first, with ``created_by__username``.
    - ``repositories``: ``{"known", "tracked"}`` counts; ``tracked_repositories``: the tracked ones by name,
      with their sync status (read-only here: the sync and its services own them).
    - ``sync_statuses``: the team's last sync of each kind, in the order of ``SyncStatus.Kind``.
    """
    from apps.integrations.models import GitHubIntegration, SyncStatus, TrackedRepository
    from apps.integrations.survey_comments import posted_comments_count

    github = (
        GitHubIntegration.objects.filter(team=team)
        .annotate(
            token_set=ExpressionWrapper(~Q(access_token=""), output_field=BooleanField()),
            survey_comments_posted=posted_comments_count(),
        )
        .values("id", "organization_slug", "token_set", "app_id", "app_installation_id", "copilot_synced_through",
                "webhook_secret", "post_survey_comments", "survey_comments_enabled_at", "survey_comments_posted",
                "access_token", "app_private_key")  # read for unreadable_secrets only, never returned
        .first()
    )
    memberships = list(
        team.memberships.order_by("role", "user__username").values(
            "user_id", "user__username", "user__email", "role", "created_at"
        )
    )
    invites = list(
        Invite.objects.filter(team=team, used_at__isnull=True, expires_at__gt=timezone.now())
        .order_by("-created_at", "-id")
        .values("id", "email", "created_at", "expires_at", "created_by__username")
    )
    repositories = TrackedRepository.objects.filter(team=team)
    counts = repositories.aggregate(known=Count("pk"), tracked=Count("pk", filter=Q(is_tracked=True)))
    tracked = list(
        repositories.filter(is_tracked=True)
        .order_by("name_with_owner")
        .values("name_with_owner", "is_archived", "is_private", "status", "status_detail", "last_synced_at")
    )
    kinds = [kind for kind, _label in SyncStatus.Kind.choices]
    statuses = sorted(
        SyncStatus.objects.filter(team=team).values(
            "kind", "state", "detail", "counts", "started_at", "finished_at", "retry_at"
        ),
        key=lambda row: kinds.index(row["kind"]),
    )
    return {
        "github": github
        and {
            "organization": github["organization_slug"],
            "token_set": github["token_set"],
            "app_id": github["app_id"],  # None: no GitHub App (a token, or nothing)
            "app_installation_id": github["app_installation_id"],
            "copilot_synced_through": github["copilot_synced_through"],
            "id": github["id"],  # the webhook URL is derived from it (no statement)
            "webhook_secret": github["webhook_secret"],  # for the admin to paste into GitHub
            "post_survey_comments": github["post_survey_comments"],
            "survey_comments_enabled_at": github["survey_comments_enabled_at"],
            "survey_comments_posted": github["survey_comments_posted"],
            **unreadable_secrets(github),
        },
        "memberships": memberships,
        "invites": invites,
        "repositories": counts,
        "tracked_repositories": [
            {**row, "status_label": TrackedRepository.Status(row["status"]).label} for row in tracked
        ],
        "sync_statuses": [
            {
                **row,
                "kind_label": SyncStatus.Kind(row["kind"]).label,
                "state_label": SyncStatus.State(row["state"]).label,
                "counts_text": _counts_text(row["counts"]),
            }
            for row in statuses
        ],
    }


UNREADABLE_LABELS = {"access_token": "access token", "app_private_key": "GitHub App private key",
                     "webhook_secret": "webhook secret"}  # fmt: skip


def unreadable_secrets(github: dict) -> dict:
    """Which stored secrets the configured keys cannot decrypt (a key rotated without the old one kept):
    ``unreadable`` (their names, for the page's message) and a flag per secret. Nothing secret is returned."""
    from apps.integrations.fields import is_unreadable

    flags = {name: is_unreadable(github[name]) for name in UNREADABLE_LABELS}
    return {
        "unreadable": [label for name, label in UNREADABLE_LABELS.items() if flags[name]],
        "token_unreadable": flags["access_token"],
        "app_key_unreadable": flags["app_private_key"],
        "webhook_secret_unreadable": flags["webhook_secret"],
    }


def _counts_text(counts) -> str:
    """``{"created": 3, "updated": 1}`` as "created 3, updated 1"; anything else as it is."""
    if isinstance(counts, dict):
        return ", ".join(f"{name} {value}" for name, value in counts.items())
    return "" if counts in (None, [], "") else str(counts)


def github_organization(team: Team) -> str | None:
    """The team's GitHub organisation login, None when it has no integration. One statement."""
    from apps.integrations.models import GitHubIntegration

    return GitHubIntegration.objects.filter(team=team).values_list("organization_slug", flat=True).first()


def is_member(user, team: Team) -> bool:
    return Membership.objects.filter(user=user.pk, team=team).exists()
