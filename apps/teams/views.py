"""Team pages: the home page, creating a team, its settings (admins only), and invite links.

Every view checks access first (a team URL through ``get_team_for_user`` or ``get_team_for_admin``),
validates its form, calls one service and renders. A form that fails re-renders with its reasons
and the inputs as sent (never the token): 400, or 502/503 when GitHub could not answer.
"""

from __future__ import annotations

import functools

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django.views.defaults import page_not_found

from apps.integrations import survey_comments, team_sync
from apps.integrations.github import GitHubError
from apps.integrations.repository_sync import UnknownRepositories
from apps.integrations.tasks import start_team_sync
from apps.integrations.webhooks import WEBHOOK_SECRET_GRACE, rotate_webhook_secret
from apps.metrics.services.survey_service import open_surveys_for_user
from apps.teams import invites as invite_service
from apps.teams import onboarding
from apps.teams.forms import (
    ConnectGitHubAppForm,
    ConnectGitHubForm,
    CreateTeamForm,
    GitHubAppForm,
    InviteForm,
    MemberActiveForm,
    ReplaceTokenForm,
    RepositorySearchForm,
    SignUpForm,
    SurveyCommentsForm,
    TrackRepositoriesForm,
)
from apps.teams.services import get_team_for_admin, github_organization, is_member, team_settings, teams_for_home


def home(request):
    """The user's teams (one statement) and the open surveys of the members linked to them (one more)."""
    context = {"teams": teams_for_home(request.user), "open_surveys": open_surveys_for_user(request.user)}
    return render(request, "teams/home.html", context)


# --- creating a team ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def create_team(request):
    if request.method == "GET":
        return _create_page(request, CreateTeamForm())
    form = CreateTeamForm(request.POST)
    if not form.is_valid():
        return _create_page(request, form, status=400)
    try:
        team, access = onboarding.create_team(creator=request.user, **form.cleaned_data)
    except onboarding.GitHubAccessRefused as refused:
        form.add_error(refused.field, refused.message)
        return _create_page(request, form, status=refused.status)
    start_team_sync(team.id)  # the first sync: members and the repository list, once committed
    messages.success(request, f"{team.name} is created and connected to GitHub: {_access_summary(access)}")
    return redirect("teams:settings", team.slug)


def _access_summary(access) -> str:
    copilot = "and Copilot metrics" if access.can_read_copilot else "(not Copilot metrics: grant that to see them)"
    return f"the token of {access.login} reads {access.organization}'s members, pull requests {copilot}."


def _create_page(request, form: CreateTeamForm, *, status: int = 200):
    name = getattr(form, "cleaned_data", {}).get("name")  # the slug it will get, once the name is valid
    context = {"form": form, "slug": onboarding.free_slug(name) if name else None}
    return render(request, "teams/create.html", context, status=status)


# --- team settings (admins) --------------------------------------------------------------------


def team_admin_view(view):
    """Resolve ``team_slug`` to a team the user administers, or answer 404 like any team URL they may not see.

    The 404 is answered here rather than raised, so that the view is also a plain function of
    its request (tests call team views directly to find the parameters they read).
    """

    @functools.wraps(view)
    def wrapper(request, team_slug: str, **kwargs):
        try:
            team = get_team_for_admin(request.user, team_slug)
        except Http404 as exc:
            return page_not_found(request, exc)
        return view(request, team, **kwargs)

    return wrapper


def _settings_url(team, section: str = "") -> str:
    return reverse("teams:settings", args=[team.slug]) + (f"#{section}" if section else "")


def _settings_page(
    request, team, *, status: int = 200, github_form=None, app_form=None, invite_form=None, search=None,
    github_problem="", repository_problem="", member_problem="", sync_problem="", survey_problem="",
):  # fmt: skip
    """The settings page. Statements: ``team_settings`` (six) plus the repository table and the members (one each),
    whatever the sizes. GitHub is asked only by "List from GitHub" (``?list=1``)."""
    overview = team_settings(team)
    for invite in overview["invites"]:
        invite["link"] = request.build_absolute_uri(
            reverse("teams:invite", args=[invite_service.invite_token(invite["id"])])
        )
    if github_form is None:
        github_form = ReplaceTokenForm() if overview["github"] else ConnectGitHubForm()
    if app_form is None:
        app_form = GitHubAppForm() if overview["github"] else ConnectGitHubAppForm()
    search = search or RepositorySearchForm()
    query = search.cleaned_data.get("q", "") if search.is_bound and search.is_valid() else ""
    repository_rows = team_sync.repositories_for_settings(team, query) if overview["github"] else []
    context = {
        "team": team,
        **overview,
        "github_form": github_form,
        "app_form": app_form,
        "invite_form": invite_form or InviteForm(),
        "invite_days": invite_service.Invite.VALIDITY.days,
        "search": search,
        "query": query,
        "repository_rows": repository_rows,
        "repositories_capped": not query and len(repository_rows) >= team_sync.REPOSITORIES_SHOWN,
        "github_members": team_sync.members_for_settings(team),
        "github_problem": github_problem,
        "repository_problem": repository_problem,
        "member_problem": member_problem,
        "sync_problem": sync_problem,
        "survey_comments": survey_comments.survey_comments_setting(overview["github"]),
        "survey_problem": survey_problem,
    }
    return render(request, "teams/settings.html", context, status=status)


@require_http_methods(["GET", "POST"])
@team_admin_view
def team_settings_page(request, team):
    if request.method == "POST":
        return _save_survey_comments(request, team)
    search = RepositorySearchForm(request.GET)
    if not search.is_valid():
        return _settings_page(
            request, team, status=400, search=RepositorySearchForm(), repository_problem=_problems(search)
        )
    if not search.cleaned_data["list"]:
        return _settings_page(request, team, search=search)
    problem, status = _list_from_github(team, search.cleaned_data["q"])
    return _settings_page(request, team, status=status, search=search, github_problem=problem)


def _save_survey_comments(request, team):
    """The settings page's own form: "Post survey links as a PR comment" on or off (``survey_comments``)."""
    form = SurveyCommentsForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, team, status=400, survey_problem=_problems(form))
    enabled = form.cleaned_data["post_survey_comments"]
    if not survey_comments.set_survey_comments(team=team, enabled=enabled):
        problem = "Connect GitHub first: there is no PR to comment on."
        return _settings_page(request, team, status=400, survey_problem=problem)
    if enabled:
        messages.success(request, "Survey links will be posted as a comment on each PR surveyed from now on "
                                  "(merged PRs surveyed before stay as they are).")  # fmt: skip
    else:
        messages.success(request, "Survey links are no longer posted on PRs.")
    return redirect(_settings_url(team, "surveys"))


def _problems(form) -> str:
    """A refused form's reasons on one line, each with its field ("shown: ...")."""
    return "; ".join(
        f"{name}: {error}" if name != "__all__" else error for name, errors in form.errors.items() for error in errors
    )


def _list_from_github(team, query: str) -> tuple[str, int]:
    """The organisation's repositories (matching ``query``) listed live and stored; a problem as text."""
    try:
        team_sync.refresh_repositories(team, query or None)
    except team_sync.TokenRefused as refused:
        return f"GitHub did not list the repositories: {refused}.", 502
    except team_sync.RetryAt as limited:
        return f"GitHub's rate limit is spent until {limited.retry_at:%Y-%m-%d %H:%M} UTC; list them again then.", 503
    except GitHubError as error:
        return f"GitHub did not list the repositories ({type(error).__name__}): {error}", 502
    return "", 200


@require_POST
@team_admin_view
def github_access(request, team):
    """Replace the token (checked live), or connect a team that has no GitHub organisation yet."""
    if github_organization(team):
        form = ReplaceTokenForm(request.POST)

        def save(data):
            return onboarding.replace_github_token(team=team, token=data["token"])
    else:
        form = ConnectGitHubForm(request.POST)

        def save(data):
            return onboarding.connect_github(team=team, **data)

    return _checked_and_saved(
        request, team, form, form_name="github_form", save=save,
        accepted=lambda access: f"GitHub accepted the token, which is saved: {_access_summary(access)}",
    )


@require_POST
@team_admin_view
def github_app_access(request, team):
    """Read GitHub through a GitHub App's installation instead of a token (the app's key checked live first)."""
    form = GitHubAppForm(request.POST) if github_organization(team) else ConnectGitHubAppForm(request.POST)

    def save(data):
        return onboarding.connect_github_app(
            team=team, app_id=data["app_id"], private_key=data["private_key"], organization=data.get("organization")
        )

    return _checked_and_saved(
        request, team, form, form_name="app_form", save=save,
        accepted=lambda connection: f"GitHub accepted the app, which is saved: {_app_summary(connection)}",
    )


def _checked_and_saved(request, team, form, *, form_name: str, save, accepted):
    """A credential form's path: its shape, then ``save(cleaned_data)`` (a service that asks GitHub before it
    stores anything), then the first sync with it. A refusal re-renders the form with GitHub's reason."""
    if not form.is_valid():
        return _settings_page(request, team, status=400, **{form_name: form})
    try:
        result = save(form.cleaned_data)
    except onboarding.GitHubAccessRefused as refused:
        form.add_error(refused.field if refused.field in form.fields else None, refused.message)
        return _settings_page(request, team, status=refused.status, **{form_name: form})
    start_team_sync(team.id)  # a new credential (or organisation): sync with it
    messages.success(request, accepted(result))
    return redirect(_settings_url(team, "github"))


def _app_summary(connection) -> str:
    access = connection.access
    copilot = "and Copilot metrics" if access.can_read_copilot else "(not Copilot metrics: grant that to see them)"
    return (
        f"app {connection.app_id}'s installation {connection.installation.id} reads {access.organization}'s members, "
        f"pull requests {copilot}."
    )


@require_POST
@team_admin_view
def remove_token(request, team):
    """Forget the team's credential, a token or a GitHub App."""
    if onboarding.remove_github_token(team=team):
        messages.success(request, "The credential is removed: nothing is read from GitHub until a new one is set.")
    else:
        messages.info(request, "There was no token or app to remove.")
    return redirect(_settings_url(team, "github"))


@require_POST
@team_admin_view
def rotate_webhook(request, team):
    """A new webhook secret; the old one still works for a while, so no delivery is refused in between."""
    if rotate_webhook_secret(team) is None:
        return _settings_page(request, team, status=400, sync_problem="Connect GitHub first: there is no webhook.")
    hours = int(WEBHOOK_SECRET_GRACE.total_seconds() // 3600)
    messages.success(
        request, f"New webhook secret below: paste it into GitHub's webhook settings. The old one is accepted "
                 f"for {hours} hours, then refused."
    )  # fmt: skip
    return redirect(_settings_url(team, "webhook"))


@require_POST
@team_admin_view
def track_repositories(request, team):
    """Of the repositories the form listed, track exactly the checked ones (the others keep their choice)."""
    form = TrackRepositoriesForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, team, status=400, repository_problem=_problems(form))
    try:
        counts = team_sync.track_repositories(
            team=team, shown=form.cleaned_data["shown"], checked=form.cleaned_data["track"]
        )
    except UnknownRepositories as unknown:
        problem = (
            "Not repositories of the organisation (as last listed from GitHub): "
            + ", ".join(unknown.names)
            + ". Nothing was changed; list them from GitHub first."
        )
        return _settings_page(request, team, status=400, repository_problem=problem)
    messages.success(request, f"{counts['tracked']} repositor{'y' if counts['tracked'] == 1 else 'ies'} "
                              "tracked of those listed; \"Sync now\" fetches their pull requests.")  # fmt: skip
    return redirect(_settings_url(team, "repositories"))


@require_POST
@team_admin_view
def member_active(request, team):
    """One of the team's members active or not; another team's member (or no such one) is a 404."""
    form = MemberActiveForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, team, status=400, member_problem=_problems(form))
    member, active = form.cleaned_data["member"], form.cleaned_data["active"]
    if not team_sync.set_member_active(team=team, member_id=member, active=active):
        return page_not_found(request, Http404("No such member."))
    messages.success(request, "The member is active again." if active else "The member is now inactive.")
    return redirect(_settings_url(team, "github-members"))


@require_POST
@team_admin_view
def sync_now(request, team):
    """Queue the team's sync (members, repositories, tracked PRs); the statuses below follow it."""
    if not team_sync.has_token(team):
        return _settings_page(request, team, status=400, sync_problem="Set a GitHub token first: nothing to sync with.")
    start_team_sync(team.id)
    messages.success(request, "Sync queued: members, repositories, then the tracked repositories' pull requests.")
    return redirect(_settings_url(team, "sync"))


@require_POST
@team_admin_view
def create_invite(request, team):
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, team, status=400, invite_form=form)
    invite_service.create_invite(team=team, created_by=request.user, email=form.cleaned_data["email"])
    messages.success(
        request, f"Invite link created: it works once, for {invite_service.Invite.VALIDITY.days} days. Copy it below."
    )
    return redirect(_settings_url(team, "invites"))


# --- invite links (anonymous or signed in) -----------------------------------------------------


@login_not_required
@require_http_methods(["GET", "POST"])
def invite(request, token: str):
    """Anonymous: a sign-up form that creates the account and joins. Signed in: "Join <team>"."""
    try:
        found = invite_service.resolve_invite(token)
        if request.user.is_authenticated:
            return _join(request, token, found)
        return _sign_up(request, token, found)
    except invite_service.InviteRefused as refused:
        return render(
            request, "link_refused.html", {"link_kind": "invite", "reason": refused.reason}, status=refused.status
        )


def _join(request, token: str, found):
    if request.method == "GET":
        context = {"invite": found, "team": found.team, "member": is_member(request.user, found.team)}
        return render(request, "teams/invite_join.html", context)
    try:
        team = invite_service.join_with_invite(token=token, user=request.user, resolved=found)
    except invite_service.AlreadyMember as already:  # the invite stays unused
        return redirect("metrics:dashboard", already.team.slug)
    return redirect("metrics:dashboard", team.slug)


def _sign_up(request, token: str, found):
    if request.method == "GET":
        return _sign_up_page(request, token, found, SignUpForm())
    form = SignUpForm(request.POST)
    if not form.is_valid():
        return _sign_up_page(request, token, found, form, status=400)
    try:
        user = invite_service.sign_up_with_invite(
            token=token,
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password1"],
            resolved=found,
        )
    except invite_service.UsernameTaken:
        form.add_error("username", "A user with that username already exists.")
        return _sign_up_page(request, token, found, form, status=400)
    # Named: axes' throttling backend comes first in AUTHENTICATION_BACKENDS, and the account was just created here.
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect("metrics:dashboard", found.team.slug)


def _sign_up_page(request, token: str, found, form, *, status: int = 200):
    login_url = reverse("login") + "?next=" + reverse("teams:invite", args=[token])
    context = {"invite": found, "team": found.team, "form": form, "login_url": login_url}
    return render(request, "registration/invite_signup.html", context, status=status)
