"""No URL answers 5xx to bad input: every team URL and every admin list page, against hostile values.

The parameters are not listed by hand. Each team URL of the URL conf is requested once with a
``QueryDict`` that records which names the view reads; every name read is then sent each value of
``HOSTILE_VALUES`` (alone and repeated). A 2xx must finish: a streamed body is read to its end. A
4xx must say why. The admin's changelists get the same treatment for the parameters their own
filter links and search box use, and the autocomplete endpoint for its ``term``.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.http import QueryDict
from django.test import RequestFactory
from django.urls import resolve, reverse

from apps.metrics.factories import PRSurveyFactory, PullRequestFactory, TeamMemberFactory
from apps.perflab.records import fill_route, team_routes
from tests.support import member_and_two_teams

pytestmark = pytest.mark.django_db

HOSTILE_VALUES = [
    "",
    " ",
    "9999-12-31",
    "0001-01-01",
    "0000-00-00",
    "2026-02-30",
    "2026-13-01",
    "10000-01-01",
    "-1",
    "0",
    "1.5",
    "1e9",
    "NaN",
    "abc",
    "99999999999999999999999",
    "９",  # a full-width digit: Python's int() takes it
    "a\x00b",
    "\x00",
    "a\x01\x1f\x7fb",
    "\u202eevil",
    "' OR 1=1 --",
    "%00",
    "../../etc/passwd",
    "x" * 5000,
    "2026-03-01" + "x" * 5000,
]

# The admin's filters take ids, choices and booleans, and its search box text: these values reach each.
ADMIN_HOSTILE_VALUES = ["", "abc", "-1", "1.5", "99999999999999999999999", "９", "a\x00b", "a\x01\x1fb", "x" * 5000]

# Pairs of parameters at the calendar's edges, where one alone is fine but arithmetic overflows.
EDGE_COMBINATIONS = [
    {"start": "0001-01-01"},
    {"end": "0001-01-01"},
    {"end": "9999-12-31"},
    {"start": "9999-12-31"},
    {"start": "0001-01-01", "end": "0001-01-01"},
    {"start": "9999-12-31", "end": "9999-12-31"},
    {"start": "9999-12-01", "end": "9999-12-31"},
    {"start": "0001-01-01", "end": "0001-12-31"},
    {"start": "2026-03-10", "end": "2026-03-01"},
]


class RecordingQueryDict(QueryDict):
    """A QueryDict that remembers every name a view asks for."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def getlist(self, key, default=None):
        self.read.add(key)
        return super().getlist(key, default)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


def _team_urls(slug: str, member_id: int) -> dict[str, tuple]:
    """``{url: view}`` for every team URL of the URL conf (a member's URL with a member of the team)."""
    urls = {}
    for route in team_routes():
        try:
            url = fill_route(route.route, {"team_slug": slug, "member_id": member_id})
        except KeyError as missing:
            raise AssertionError(f"a team URL takes more than the team and a member: {route.route}") from missing
        urls[url] = functools.partial(route.pattern.callback, **route.pattern.default_args)
    return urls


def _parameters_read(view, url: str, user) -> set[str]:
    request = RequestFactory().get(url)
    request.GET = RecordingQueryDict(mutable=True)
    request.user = user
    view(request, **resolve(url).kwargs)
    return request.GET.read


def _finish(response) -> bytes:
    """The whole body; a streamed one is read to its end (a 200 that dies mid-stream raises here)."""
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def _requests_for(names: set[str]):
    for name in sorted(names):
        for value in HOSTILE_VALUES:
            yield {name: value}
        yield {name: ["2026-03-01", "2026-03-02"]}  # the same parameter twice
        yield {name: ["1", "a\x00b"]}
    for combination in EDGE_COMBINATIONS:
        if set(combination) <= names:
            yield combination


def _assert_answered(response, url, params, body: bytes):
    assert response.status_code < 500, f"{url} {params!r} answered {response.status_code}: {body[:2000]!r}"
    if 400 <= response.status_code < 500 and response.status_code not in (403, 404):
        assert len(body.strip()) > 0, f"{url} {params!r}: a {response.status_code} without a reason"


@pytest.fixture
def team_world():
    alice, platform, _secret = member_and_two_teams()
    ada = TeamMemberFactory(team=platform, display_name="Ada", github_username="ada")
    merged = dt.datetime(2026, 3, 3, 12, tzinfo=dt.UTC)
    pr = PullRequestFactory(team=platform, author=ada, github_repo="acme/web", pr_created_at=merged, merged_at=merged)
    PRSurveyFactory(pull_request=pr, author_ai_assisted=True)
    return alice, platform, ada


def test_every_team_url_answers_bad_input_without_a_5xx(client, team_world):
    alice, platform, ada = team_world
    client.force_login(alice)
    urls = _team_urls(platform.slug, ada.id)
    assert len(urls) >= 7, urls  # dashboard, cards, three charts, PR list, export at least
    requests = 0
    read_by_url = {}
    for url, view in urls.items():
        names = _parameters_read(view, url, alice)
        read_by_url[url] = names
        for params in _requests_for(names):
            response = client.get(url, params)
            _assert_answered(response, url, params, _finish(response))
            requests += 1
    # The discovery found what the views are known to read (it cannot pass by reading nothing).
    dashboard = reverse("metrics:dashboard", args=[platform.slug])
    pr_list = reverse("metrics:pr_list", args=[platform.slug])
    assert {"start", "end"} <= read_by_url[dashboard]
    assert {"start", "end", "state", "author", "repo", "page"} <= read_by_url[pr_list]
    assert requests > 400, requests
    print(f"{requests} hostile requests to {len(urls)} team URLs, none answered 5xx")


def _admin_parameters(client, changelist: str) -> set[str]:
    """The names this changelist's own links and forms use: filters, ordering, search, page."""
    html = client.get(changelist).content.decode()
    names = {"q", "o", "p", "all", "e"}
    for href in re.findall(r'href="(\?[^"]*)"', html):
        names.update(name for name, _ in parse_qsl(urlsplit(href.replace("&amp;", "&")).query))
    return names


@pytest.mark.allow_repeats(
    "Django's admin: a changelist runs its COUNT twice (the page's count and the full count), a change page reads "
    "the object's team and user again for its title and form widgets"
)
def test_admin_list_pages_answer_bad_filters_without_a_5xx(client, team_world):
    staff = get_user_model().objects.create_superuser("root", "root@example.com", "correct-horse-battery")
    client.force_login(staff)
    requests = 0
    for model in admin.site._registry:
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        names = _admin_parameters(client, changelist)
        for name in sorted(names):
            for value in ADMIN_HOSTILE_VALUES:
                response = client.get(changelist, {name: value})
                _assert_answered(response, changelist, {name: value}, response.content)
                requests += 1
    autocomplete = reverse("admin:autocomplete")
    source = {"app_label": "metrics", "model_name": "pullrequest", "field_name": "author"}
    for value in HOSTILE_VALUES:
        response = client.get(autocomplete, {**source, "term": value})
        _assert_answered(response, autocomplete, {"term": value}, response.content)
        requests += 1
    assert requests > 500, requests
    print(f"{requests} hostile requests to the admin, none answered 5xx")
