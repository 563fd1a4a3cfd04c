"""The PR list and its CSV export: filters, pagination, statements, streaming, isolation, bad input."""

import csv
import datetime as dt
import html
import io
import re
import tracemalloc
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from apps.metrics.factories import PullRequestFactory, TeamMemberFactory
from apps.metrics.services import pr_list_service
from apps.metrics.services.pr_list_service import EXPORT_HEADER
from apps.metrics.views.params import today_utc
from apps.perflab import baselines
from apps.perflab.testing import assert_constant_queries
from apps.teams.factories import MembershipFactory, TeamFactory, UserFactory
from tests.support import member_and_two_teams

pytestmark = pytest.mark.django_db


def _list_url(slug, **params):
    return _with_query(reverse("metrics:pr_list", args=[slug]), params)


def _export_url(slug, **params):
    return _with_query(reverse("metrics:pr_list_export", args=[slug]), params)


def _with_query(url, params):
    return f"{url}?{urlencode(params, doseq=True)}" if params else url


def _pr(team, *, days_ago: float, state="merged", **fields):
    created = timezone.now() - dt.timedelta(days=days_ago)
    merged_at = created + dt.timedelta(hours=2) if state == "merged" else None
    return PullRequestFactory(team=team, state=state, pr_created_at=created, merged_at=merged_at, **fields)


def _csv(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body, newline="")))


@pytest.fixture
def world():
    """Alice belongs to Platform; Secret is another team with its own members and PRs."""
    alice, platform, secret = member_and_two_teams()
    ada = TeamMemberFactory(team=platform, display_name="Ada", github_username="ada")
    bob = TeamMemberFactory(team=platform, display_name="Bob", github_username="bob")
    spy = TeamMemberFactory(team=secret, display_name="Spy", github_username="spy")
    _pr(platform, days_ago=1, author=ada, github_repo="acme/api", title="Add pagination")
    _pr(platform, days_ago=2, state="open", author=bob, github_repo="acme/web", title="Open work")
    _pr(platform, days_ago=3, state="closed", author=None, github_repo="acme/api", title="Abandoned")
    _pr(platform, days_ago=45, author=ada, github_repo="acme/api", title="Old news")
    _pr(secret, days_ago=1, author=spy, github_repo="secret/vault", title="Top secret")
    return {"alice": alice, "platform": platform, "secret": secret, "ada": ada, "bob": bob, "spy": spy}


@pytest.fixture
def alice_client(client, world):
    client.force_login(world["alice"])
    return client


# --- the list -----------------------------------------------------------------------------


def test_list_shows_the_last_30_days_of_my_team(alice_client, world):
    response = alice_client.get(_list_url("platform"))
    assert response.status_code == 200
    assert "metrics/pr_list.html" in [t.name for t in response.templates]
    body = response.content.decode()
    for title in ("Add pagination", "Open work", "Abandoned"):
        assert title in body
    assert "Old news" not in body  # 45 days ago: outside the default range
    assert "Top secret" not in body and "Spy" not in body
    assert reverse("metrics:dashboard", args=["platform"]) in body
    today = today_utc()
    start = today - dt.timedelta(days=29)
    assert response.context["filters"].range.start == start and response.context["filters"].range.end == today
    export = f"{reverse('metrics:pr_list_export', args=['platform'])}?dates=created&amp;start={start}&amp;end={today}"
    assert export in body
    assert f"Created {start} to {today} (UTC)" in body  # which date the range applies to


@pytest.mark.parametrize(
    ("params", "titles"),
    [
        ({"state": "open"}, ["Open work"]),
        ({"state": "closed"}, ["Abandoned"]),
        ({"repo": "acme/web"}, ["Open work"]),
        ({"repo": " acme/web "}, ["Open work"]),
        ({"author": "ada"}, ["Add pagination"]),
        ({"start": "2000-01-01", "end": "2001-12-31"}, []),
        ({"state": "merged", "author": "ada", "repo": "acme/api"}, ["Add pagination"]),
    ],
)
def test_list_filters(alice_client, world, params, titles):
    if "author" in params:
        params = {**params, "author": world[params["author"]].id}
    response = alice_client.get(_list_url("platform", **params))
    assert response.status_code == 200
    assert [pr.title for pr in response.context["page"].object_list] == titles


def test_list_paginates_by_50_keeping_the_filters(alice_client, world):
    platform, ada = world["platform"], world["ada"]
    for i in range(57):
        _pr(platform, days_ago=5 + i / 100, author=ada, github_repo="acme/bulk", title=f"Bulk {i}")
    first = alice_client.get(_list_url("platform", repo="acme/bulk", author=ada.id))
    page = first.context["page"]
    assert len(page.object_list) == 50 and page.paginator.count == 57 and page.paginator.num_pages == 2
    body = first.content.decode()
    assert f"author={ada.id}&amp;repo=acme%2Fbulk&amp;page=2" in body
    second = alice_client.get(_list_url("platform", repo="acme/bulk", author=ada.id, page=2))
    assert [pr.title for pr in second.context["page"].object_list] == [f"Bulk {i}" for i in range(50, 57)]
    beyond = alice_client.get(_list_url("platform", repo="acme/bulk", author=ada.id, page=99))
    assert beyond.status_code == 200 and beyond.context["page"].number == 2  # clamped to the last page


def test_list_costs_the_same_statements_at_5_and_50_prs(client):
    def prepare(size):
        user = UserFactory()
        team = TeamFactory()
        MembershipFactory(user=user, team=team)
        members = TeamMemberFactory.create_batch(3, team=team)
        for i in range(size):
            _pr(team, days_ago=1 + i / 100, author=members[i % 3] if i % 4 else None)
        client.force_login(user)
        url = _list_url(team.slug)

        def get():
            response = client.get(url)
            assert response.status_code == 200
            assert len(response.context["page"].object_list) == min(size, 50)

        return get

    small, large = assert_constant_queries(prepare, sizes=(5, 50))
    # session, user, team, the members (the author select, and the author check), count, the page
    # (authors joined in): nothing per row
    assert small.count == 6, small.report()
    assert sum("metrics_pullrequest" in q.sql for q in large.queries) == 2  # count + page
    assert sum("metrics_teammember" in q.sql and "metrics_pullrequest" not in q.sql for q in large.queries) == 1


def test_refused_filters_cost_the_same_statements_at_5_and_50_members(client):
    """The 400 page reads the members once, for its select and for the author check; no PR is read."""

    def prepare(size):
        user = UserFactory()
        team = TeamFactory()
        MembershipFactory(user=user, team=team)
        members = TeamMemberFactory.create_batch(size, team=team)
        _pr(team, days_ago=1, author=members[0])
        client.force_login(user)
        url = _list_url(team.slug, author=members[-1].id, state="draft")

        def get():
            response = client.get(url)
            assert response.status_code == 400
            assert response.content.decode().count('<option value="') == size + 1 + 2 + 4  # authors, dates, states

        return get

    small, large = assert_constant_queries(prepare, sizes=(5, 50))
    assert small.count == 4, small.report()  # session, user, team, the members
    assert not any("metrics_pullrequest" in q.sql for q in large.queries), large.report()


# --- the export ---------------------------------------------------------------------------


def test_export_is_a_streamed_csv_attachment_named_after_team_and_range(alice_client, world):
    response = alice_client.get(_export_url("platform", start="2026-01-01", end="2026-03-31"))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="tformance-platform-2026-01-01-to-2026-03-31.csv"'
    assert _csv(response) == [EXPORT_HEADER]  # no PR in that range


def test_export_default_range_is_the_last_30_days(alice_client, world):
    today = today_utc()
    response = alice_client.get(_export_url("platform"))
    expected = f'filename="tformance-platform-{today - dt.timedelta(days=29)}-to-{today}.csv"'
    assert expected in response["Content-Disposition"]
    rows = _csv(response)
    assert [row[2] for row in rows[1:]] == ["Add pagination", "Open work", "Abandoned"]


def test_export_csv_values_and_formula_injection(alice_client, world):
    platform = world["platform"]
    hostile = TeamMemberFactory(team=platform, display_name="=cmd|' /C calc'!A0", github_username="-2")
    created = dt.datetime.combine(today_utc(), dt.time(8), tzinfo=dt.UTC) - dt.timedelta(days=4)
    for i, title in enumerate(["=cmd", "+1", "-2", "@x", "\tTab", "\rCR", 'Comma, "quote"\nnewline']):
        PullRequestFactory(
            team=platform,
            author=hostile,
            github_repo="@evil/repo",
            github_pr_id=700 + i,
            title=title,
            pr_created_at=created - dt.timedelta(minutes=i),
            merged_at=created + dt.timedelta(hours=3),
            cycle_time_hours="3.00",
            review_time_hours="1.25",
            additions=5,
            deletions=2,
            is_ai_assisted=True,
        )
    rows = _csv(alice_client.get(_export_url("platform", author=hostile.id)))
    assert rows[0] == EXPORT_HEADER
    assert [row[2] for row in rows[1:]] == ["'=cmd", "'+1", "'-2", "'@x", "'\tTab", "'\rCR", 'Comma, "quote"\nnewline']
    assert rows[1] == [
        "'@evil/repo",
        "700",
        "'=cmd",
        "'=cmd|' /C calc'!A0",
        "'-2",
        "merged",
        created.isoformat(),
        (created + dt.timedelta(hours=3)).isoformat(),
        "3.00",
        "1.25",
        "5",
        "2",
        "yes",
    ]


@pytest.mark.parametrize(
    "params",
    [{}, {"state": "merged"}, {"state": "closed"}, {"repo": "acme/api"}, {"days": 700}, {"days": 3}],
    ids=["default", "merged", "closed", "repo", "700-days", "3-days"],
)
def test_export_equals_the_baseline(alice_client, world, params):
    platform = world["platform"]
    today = today_utc()
    if "days" in params:
        params = {"start": str(today - dt.timedelta(days=params["days"] - 1)), "end": str(today)}
    for i in range(12):  # more variety: every state, no author, ties on creation time
        state = ("merged", "open", "closed")[i % 3]
        _pr(platform, days_ago=6 + i // 2, state=state, author=[world["ada"], None, world["bob"]][i % 3])
    rows = _csv(alice_client.get(_export_url("platform", **params)))
    filters = {
        "state": params.get("state"),
        "repo": params.get("repo"),
        "start": dt.date.fromisoformat(params.get("start", str(today - dt.timedelta(days=29)))),
        "end": dt.date.fromisoformat(params.get("end", str(today))),
    }
    expected = baselines.pr_export_rows(platform, **filters)
    assert rows == expected and len(expected) > 1


def test_export_reads_every_row_in_one_statement_at_5_and_50_prs(client):
    def prepare(size):
        user = UserFactory()
        team = TeamFactory()
        MembershipFactory(user=user, team=team)
        members = TeamMemberFactory.create_batch(3, team=team)
        for i in range(size):
            _pr(team, days_ago=1 + i / 100, author=members[i % 3] if i % 4 else None)
        client.force_login(user)
        url = _export_url(team.slug, author=members[1].id)

        def export():
            rows = _csv(client.get(url))
            assert len(rows) == 1 + sum(1 for i in range(size) if i % 4 and i % 3 == 1)

        return export

    captures = assert_constant_queries(prepare, sizes=(5, 50))
    for capture in captures:
        row_statements = [q for q in capture.queries if "metrics_pullrequest" in q.sql]
        assert len(row_statements) == 1, capture.report()
        assert "metrics_teammember" in row_statements[0].sql  # the author comes in the same statement
        # session, user, team, the members (author check), rows
        assert capture.without_savepoints().count == 5, capture.report()


@pytest.mark.django_db(transaction=True)
def test_export_streams_outside_a_transaction_as_in_production(client):
    """Autocommit, as a real request runs: the server-side cursor must survive between chunks."""
    user = UserFactory()
    team = TeamFactory(slug="prod")
    MembershipFactory(user=user, team=team)
    member = TeamMemberFactory(team=team)
    for i in range(30):
        _pr(team, days_ago=1 + i / 100, author=member)
    client.force_login(user)
    assert connection.get_autocommit()
    rows = _csv(client.get(_export_url("prod")))
    assert len(rows) == 31 and rows == baselines.pr_export_rows(
        team, start=today_utc() - dt.timedelta(days=29), end=today_utc()
    )


def _bulk_prs(team, author, count: int) -> None:
    """``count`` PRs in one INSERT ... SELECT generate_series: fast at any size."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO metrics_pullrequest (
                team_id, author_id, github_pr_id, github_repo, title, state, pr_created_at, merged_at,
                first_review_at, cycle_time_hours, review_time_hours, additions, deletions,
                is_revert, is_hotfix, is_ai_assisted
            )
            SELECT %(team)s, CASE WHEN n %% 10 = 0 THEN NULL ELSE %(author)s END, n, 'acme/api',
                   'Change number ' || n, CASE WHEN n %% 3 = 0 THEN 'open' ELSE 'merged' END,
                   %(base)s - n * interval '1 second',
                   CASE WHEN n %% 3 = 0 THEN NULL ELSE %(base)s - n * interval '1 second' + interval '5 hours' END,
                   NULL, CASE WHEN n %% 3 = 0 THEN NULL ELSE 5.00 END, NULL, n %% 500, n %% 70,
                   false, false, n %% 2 = 0
            FROM generate_series(1, %(count)s) AS n
            """,
            {"team": team.id, "author": author.id, "base": timezone.now() - dt.timedelta(days=1), "count": count},
        )


def _peak_bytes_while_streaming(client, url, expected_lines: int) -> int:
    client.get(url).getvalue()  # warm-up, untraced: imports, URL resolver, session, first-use caches
    tracemalloc.start()
    try:
        response = client.get(url)
        lines = 0
        for chunk in response.streaming_content:
            lines += chunk.count(b"\r\n")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert lines == expected_lines
    return peak


def test_export_memory_stays_flat_from_1k_to_10k_rows(client, monkeypatch):
    """No list of every row: ten times the rows, about the same peak.

    The cursor's chunk is made small (100 rows) so that both sizes span many chunks and the test
    stays quick under tracemalloc (which slows allocation-heavy code about eightfold).
    """
    monkeypatch.setattr(pr_list_service, "EXPORT_CHUNK_SIZE", 100)
    user = UserFactory()
    client.force_login(user)
    peaks = {}
    for size in (1_000, 10_000):
        team = TeamFactory(slug=f"rows-{size}")
        MembershipFactory(user=user, team=team)
        _bulk_prs(team, TeamMemberFactory(team=team), size)
        peaks[size] = _peak_bytes_while_streaming(client, _export_url(team.slug), size + 1)
    # Holding every row would make the peak grow about tenfold; streaming holds one chunk.
    assert peaks[10_000] < 1.5 * peaks[1_000], f"peak bytes by rows: {peaks}"


# --- who may see what ---------------------------------------------------------------------


@pytest.mark.parametrize("url_for", [_list_url, _export_url], ids=["list", "export"])
@pytest.mark.parametrize("slug", ["secret", "does-not-exist"])
def test_other_or_unknown_team_is_404(alice_client, url_for, slug):
    assert alice_client.get(url_for(slug)).status_code == 404


@pytest.mark.parametrize("url_for", [_list_url, _export_url], ids=["list", "export"])
def test_a_user_without_membership_gets_404(client, world, url_for):
    client.force_login(UserFactory(username="mallory"))
    assert client.get(url_for("platform")).status_code == 404


@pytest.mark.parametrize("url_for", [_list_url, _export_url], ids=["list", "export"])
def test_anonymous_is_sent_to_login(client, world, url_for):
    response = client.get(url_for("platform"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("url_for", [_list_url, _export_url], ids=["list", "export"])
def test_an_author_of_another_team_is_refused(alice_client, world, url_for):
    response = alice_client.get(url_for("platform", author=world["spy"].id))
    assert response.status_code == 400
    body = response.content.decode()
    assert f'id="id_author_error">author {world["spy"].id} is not a member of this team</span>' in body
    assert "Top secret" not in body and "Spy" not in body


def test_the_author_select_lists_the_team_s_members_the_chosen_one_selected(alice_client, world):
    ada, bob = world["ada"], world["bob"]
    response = alice_client.get(_list_url("platform", author=bob.id))
    body = response.content.decode()
    select = body[body.index('<select name="author"') : body.index("</select>", body.index('<select name="author"'))]
    options = re.findall(r'<option value="(\d*)"( selected)?>([^<]*)</option>', select)
    assert options == [("", "", "Everyone"), (str(ada.id), "", "Ada"), (str(bob.id), " selected", "Bob")]


BAD_INPUT = [
    ({"start": "yesterday"}, "start must be a date"),
    ({"end": "2026-02-30"}, "end must be a date"),
    ({"start": "2026-03-10", "end": "2026-03-01"}, "is before start"),
    ({"start": "2020-01-01", "end": "2026-01-01"}, "at most 731"),
    ({"state": "draft"}, "state must be one of open, merged, closed"),
    ({"state": "MERGED"}, "state must be one of"),
    ({"author": "ada"}, "author must be a positive whole number, not 'ada'"),
    ({"author": "-3"}, "author must be a positive whole number, not '-3'"),
    ({"author": "99999999999999999999"}, "author must be at most"),
    ({"author": ["1", "2"]}, "author is given 2 times; give it once"),
    ({"repo": "acme/\x01web"}, "repo must not contain control characters"),
    ({"dates": "closed"}, "dates must be one of created, merged, not 'closed'"),
    ({"author": "999999999"}, "not a member of this team"),
    ({"repo": "x" * 201}, "repo is at most 200 characters"),
]


@pytest.mark.parametrize("url_for", [_list_url, _export_url], ids=["list", "export"])
@pytest.mark.parametrize(("params", "message"), BAD_INPUT, ids=[m for _, m in BAD_INPUT])
def test_bad_input_is_400_with_its_reason(alice_client, url_for, params, message):
    response = alice_client.get(url_for("platform", **params))
    assert response.status_code == 400
    assert not response.streaming  # refused before any row: never a half-written 200
    assert message in html.unescape(response.content.decode())


@pytest.mark.parametrize(("page", "message"), [("abc", "whole number"), ("0", "positive"), ("-1", "positive")])
def test_a_bad_page_is_400(alice_client, page, message):
    response = alice_client.get(_list_url("platform", page=page))
    assert response.status_code == 400
    assert message in response.content.decode()


# --- dates: created or merged -----------------------------------------------------------------


def test_merged_dates_list_the_prs_merged_in_the_range_newest_merge_first(alice_client, world):
    platform, ada = world["platform"], world["ada"]
    now = timezone.now()
    # opened long before the range, merged inside it: counted by merge date, not by creation date
    late = PullRequestFactory(
        team=platform,
        author=ada,
        state="merged",
        title="Slow burner",
        pr_created_at=now - dt.timedelta(days=60),
        merged_at=now - dt.timedelta(days=2),
    )
    response = alice_client.get(_list_url("platform", dates="merged"))
    assert response.status_code == 200
    titles = [pr.title for pr in response.context["page"].object_list]
    assert titles == ["Add pagination", "Slow burner"]  # merged 1 and 2 days ago; open and closed are not listed
    body = response.content.decode()
    today = today_utc()
    assert f"Merged {today - dt.timedelta(days=29)} to {today} (UTC)" in body
    assert '<option value="merged" selected>' in body
    export = _csv(alice_client.get(_export_url("platform", dates="merged")))
    assert [row[2] for row in export[1:]] == titles  # the export lists the same PRs
    assert late.merged_at is not None


def test_the_dashboard_links_to_the_prs_its_merged_card_counts(client):
    """On generated data (opened and merged at different times), the linked list shows the card's count."""
    from apps.perflab.datagen import DatasetSpec, generate
    from apps.teams.models import Team

    end = dt.date(2026, 3, 31)
    spec = DatasetSpec(teams=1, members_per_team=8, prs_per_member=12, days=120, end_date=end, team_slug_prefix="link")
    generate(spec)
    team = Team.objects.get(slug__startswith="link")
    user = UserFactory()
    MembershipFactory(user=user, team=team)
    client.force_login(user)
    range_query = {"start": "2026-02-01", "end": "2026-03-31"}
    dashboard = client.get(reverse("metrics:dashboard", args=[team.slug]), range_query)
    merged_card = next(card for card in dashboard.context["cards"] if card["key"] == "prs_merged")
    link = re.search(r'id="pr-list-link" href="([^"]+)"', dashboard.content.decode()).group(1).replace("&amp;", "&")
    listed = client.get(link).context["page"].paginator.count
    created = client.get(reverse("metrics:pr_list", args=[team.slug]), range_query).context["page"].paginator.count
    assert listed == merged_card["value"] > 0
    assert created != listed  # the two readings differ on this data: the link must pick the right one


def test_bad_filters_reshow_the_list_with_the_error_and_the_values_sent(alice_client, world):
    params = {"start": "2026-03-10", "end": "2026-03-01", "repo": "acme/web", "state": "open", "dates": "merged"}
    for url in (_list_url("platform", **params), _export_url("platform", **params)):
        response = alice_client.get(url)
        assert response.status_code == 400
        assert not response.streaming
        body = response.content.decode()
        assert 'id="filter-error">end (2026-03-01) is before start (2026-03-10)</p>' in body
        assert 'name="start" value="2026-03-10"' in body and 'name="repo" value="acme/web"' in body
        assert '<option value="open" selected>' in body and '<option value="merged" selected>' in body
        assert "<table" not in body  # no rows read


def test_each_refused_filter_is_named_beside_its_field_with_the_values_kept(alice_client, world):
    params = {"state": "draft", "repo": "x" * 201, "start": "yesterday", "author": "ada"}
    response = alice_client.get(_list_url("platform", **params))
    assert response.status_code == 400
    body = html.unescape(response.content.decode())
    assert "id=\"id_state_error\">state must be one of open, merged, closed, not 'draft'</span>" in body
    assert 'id="id_repo_error">repo is at most 200 characters, not 201</span>' in body
    assert "id=\"id_start_error\">start must be a date as YYYY-MM-DD, not 'yesterday'</span>" in body
    assert "id=\"id_author_error\">author must be a positive whole number, not 'ada'</span>" in body
    assert 'name="start" value="yesterday"' in body and f'name="repo" value="{"x" * 201}"' in body
    assert 'id="filter-error"' not in body  # every reason is beside its field


def test_the_applied_filters_show_in_the_fields(alice_client, world):
    body = alice_client.get(_list_url("platform", end="2026-03-31", repo=" acme/web ")).content.decode()
    assert 'name="start" value="2026-03-02"' in body and 'name="end" value="2026-03-31"' in body
    assert 'name="repo" value="acme/web"' in body
