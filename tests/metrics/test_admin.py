"""Admin changelists of our apps: the query count does not grow with the rows shown.

This is what ``list_select_related`` buys: without it each row's ``__str__`` of a related
object (author, team, pull request...) costs one query more.
"""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib import admin
from django.db import connection
from django.shortcuts import resolve_url
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.integrations.factories import GitHubIntegrationFactory
from apps.metrics.factories import CommitFactory, PullRequestFactory
from apps.teams.factories import UserFactory
from tests.support import ALL_FACTORIES

OUR_APPS = {"teams", "metrics", "integrations"}
SMALL, LARGE = 3, 30

FACTORY_OF = {factory._meta.model: factory for factory in ALL_FACTORIES}


def _our_registered_models():
    return sorted(
        (m for m in admin.site._registry if m._meta.app_label in OUR_APPS),
        key=lambda m: m._meta.label,
    )


def _with_relations(factory, n: int) -> None:
    """``n`` rows whose foreign keys are all filled in, so each row shows every relation."""
    model = factory._meta.model
    if model.__name__ == "Commit":
        for _ in range(n):
            CommitFactory(pull_request=PullRequestFactory())
    else:
        factory.create_batch(n)


def _sql_dump(title: str, queries) -> str:
    lines = [f"--- {title}: {len(queries)} queries"]
    lines += [f"{i:3d}. {q['sql']}" for i, q in enumerate(queries, 1)]
    return "\n".join(lines)



@pytest.fixture
def admin_client_logged_in(client, db):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_every_registered_model_of_our_apps_is_covered():
    registered = set(_our_registered_models())
    assert registered, "no ModelAdmin registered for our apps"
    assert registered - set(FACTORY_OF) == set()


@pytest.mark.django_db
@pytest.mark.allow_repeats(
    "Django's admin: a changelist runs its COUNT twice (the page's count and the full count), a change page reads "
    "the object's team and user again for its title and form widgets"
)
@pytest.mark.parametrize("model", _our_registered_models(), ids=lambda m: m._meta.label)
def test_changelist_query_count_does_not_grow_with_rows(admin_client_logged_in, model):
    client = admin_client_logged_in
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    factory = FACTORY_OF[model]

    def get(expected_rows):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        assert len(response.context["cl"].result_list) == expected_rows
        return ctx.captured_queries

    _with_relations(factory, SMALL)
    client.get(url)  # warm-up: one-off lookups (content types, ...) are not per-row costs
    small = get(SMALL)

    _with_relations(factory, LARGE - SMALL)
    large = get(LARGE)

    assert len(small) == len(large), (
        f"{model._meta.label} changelist: {len(small)} queries for {SMALL} rows but "
        f"{len(large)} for {LARGE} (list_select_related missing something?)\n"
        + _sql_dump(f"{SMALL} rows", small)
        + "\n"
        + _sql_dump(f"{LARGE} rows", large)
    )


@pytest.mark.django_db
@pytest.mark.allow_repeats(
    "Django's admin: a changelist runs its COUNT twice (the page's count and the full count), a change page reads "
    "the object's team and user again for its title and form widgets"
)
@pytest.mark.parametrize("model", _our_registered_models(), ids=lambda m: m._meta.label)
def test_change_page_opens(admin_client_logged_in, model):
    obj = FACTORY_OF[model]()
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
    assert admin_client_logged_in.get(url).status_code == 200


@pytest.mark.django_db
@pytest.mark.allow_repeats(
    "Django's admin: a changelist runs its COUNT twice (the page's count and the full count), a change page reads "
    "the object's team and user again for its title and form widgets"
)
def test_integration_change_page_never_shows_the_token(admin_client_logged_in):
    integration = GitHubIntegrationFactory(access_token="ghp_NeverShowThisToken")
    url = reverse("admin:integrations_githubintegration_change", args=[integration.pk])
    response = admin_client_logged_in.get(url)
    assert response.status_code == 200
    assert b"ghp_NeverShowThisToken" not in response.content
    assert b"fernet:" not in response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    ["/admin/", "/admin/metrics/pullrequest/", "/admin/integrations/githubintegration/"],
)
def test_anonymous_user_is_redirected_to_login(client, settings, url):
    response = client.get(url)
    assert response.status_code == 302
    # the admin index sends to the admin's login; LoginRequiredMiddleware, which runs before
    # the model views, sends to the site's LOGIN_URL: both are login pages
    login_pages = {reverse("admin:login"), resolve_url(settings.LOGIN_URL)}
    location = urlsplit(response["Location"])
    assert location.path in login_pages
    assert parse_qs(location.query)["next"] == [url]

    final = client.get(response["Location"])
    assert final.status_code == 200
    assert b'name="password"' in final.content


@pytest.mark.django_db
def test_staff_user_without_permissions_sees_no_metrics(client):
    client.force_login(UserFactory(is_staff=True))
    assert client.get("/admin/metrics/pullrequest/").status_code == 403


@pytest.mark.django_db
def test_admin_index_names_our_models_readably(admin_client_logged_in):
    response = admin_client_logged_in.get(reverse("admin:index"))
    assert response.status_code == 200
    page = response.content.decode()
    for label in ["GitHub integrations", "Weekly metrics", "AI usage (daily)", "PR reviews", "PR surveys",
                  "PR survey reviews", "Pull requests", "Commits", "Team members", "Teams", "Memberships"]:
        assert f">{label}</a>" in page, f"the admin index does not list {label!r}"
    for bad in ["Git hub", "metricss", "dailys", "Ai usage", "Pr review", "Pr survey"]:
        assert bad not in page, f"the admin index reads {bad!r}"


def test_every_model_of_our_apps_has_a_readable_name():
    """Django's default splits CamelCase into words: 'git hub integration', 'pr review'."""
    from django.apps import apps

    names = {
        model._meta.label: (str(model._meta.verbose_name), str(model._meta.verbose_name_plural))
        for model in apps.get_models()
        if model._meta.app_label in OUR_APPS
    }
    assert names == {
        "teams.Team": ("team", "teams"),
        "teams.Membership": ("membership", "memberships"),
        "teams.Invite": ("invite", "invites"),
        "metrics.TeamMember": ("team member", "team members"),
        "metrics.PullRequest": ("pull request", "pull requests"),
        "metrics.PRReview": ("PR review", "PR reviews"),
        "metrics.Commit": ("commit", "commits"),
        "metrics.PRSurvey": ("PR survey", "PR surveys"),
        "metrics.PRSurveyReview": ("PR survey review", "PR survey reviews"),
        "metrics.AIUsageDaily": ("AI usage (daily)", "AI usage (daily)"),
        "metrics.WeeklyMetrics": ("weekly metrics", "weekly metrics"),
        "integrations.GitHubIntegration": ("GitHub integration", "GitHub integrations"),
        "integrations.TrackedRepository": ("tracked repository", "tracked repositories"),
        "integrations.SyncStatus": ("sync status", "sync statuses"),
        "integrations.WebhookDelivery": ("webhook delivery", "webhook deliveries"),
        "integrations.SurveyComment": ("survey comment", "survey comments"),
    }
