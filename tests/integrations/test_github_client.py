"""GitHubClient against the loopback stub: conditional GETs cached in Redis, errors a task can act on."""

import datetime as dt
import json
import socket
import time

import pytest
from django.core.cache import cache

from apps.integrations.github import (
    API_VERSION,
    Forbidden,
    GitHubClient,
    GitHubError,
    GitHubUnavailable,
    InvalidToken,
    MalformedResponse,
    NotFound,
    RateLimited,
)
from apps.perflab.github_stub import GitHubStub, fake_user_day

DAY = dt.date(2026, 3, 2)
TOKEN = "ghp_client_test"
LOGINS = ["ada", "grace", "linus"]


@pytest.fixture
def github(settings):
    with GitHubStub(org="acme", token=TOKEN) as stub:
        stub.set_users(LOGINS, [DAY, DAY + dt.timedelta(days=1)], seed=3)
        settings.GITHUB_API_URL = stub.base_url
        yield stub


@pytest.fixture
def client():
    with GitHubClient(TOKEN) as github_client:
        yield github_client


def test_first_fetch_downloads_then_304s_serve_the_cached_body(github, client):
    first = client.copilot_user_day_report("acme", DAY)
    assert [r["user_login"] for r in first.records] == LOGINS
    assert first.records == [fake_user_day(login, DAY, 3) for login in LOGINS]
    assert (first.unchanged, first.requests, first.not_modified) == (False, 2, 0)
    assert first.bytes == github.bytes_served > 0

    again = client.copilot_user_day_report("acme", DAY)
    assert (again.unchanged, again.requests, again.not_modified, again.bytes) == (True, 2, 2, 0)
    assert again.records == first.records  # from the cache
    assert [(r.status, r.conditional) for r in github.requests] == [(200, False)] * 2 + [(304, True)] * 2
    sent = github.requests[-1].headers
    assert sent["if-none-match"].startswith('"') and sent["if-modified-since"].endswith("GMT")
    assert (client.requests, client.not_modified, client.bytes) == (4, 2, first.bytes)


def test_the_api_headers_and_the_token_are_sent(github, client):
    client.copilot_user_day_report("acme", DAY)
    for request in github.requests:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == API_VERSION == "2022-11-28"
    with GitHubClient("wrong-token") as intruder, pytest.raises(GitHubError) as excinfo:
        intruder.copilot_user_day_report("acme", DAY)
    assert excinfo.value.status == 401 and "/copilot/metrics/reports/users-1-day?day=2026-03-02" in excinfo.value.url
    assert not excinfo.value.retryable


def test_the_api_url_is_read_at_call_time(github, settings):
    settings.GITHUB_API_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    with GitHubClient(TOKEN) as github_client:
        with pytest.raises(GitHubUnavailable):
            github_client.copilot_user_day_report("acme", DAY)
        settings.GITHUB_API_URL = github.base_url + "/"
        assert len(github_client.copilot_user_day_report("acme", DAY).records) == 3


def test_changed_upstream_data_is_downloaded_again(github, client):
    client.copilot_user_day_report("acme", DAY)
    github.set_users(["ada"], [DAY], seed=99)
    changed = client.copilot_user_day_report("acme", DAY)
    assert not changed.unchanged and changed.records == [fake_user_day("ada", DAY, 99)]
    assert [r.status for r in github.requests[2:]] == [304, 200]  # same links, a new file behind them


def test_tokens_and_scopes_never_share_validators(github, client):
    client.copilot_user_day_report("acme", DAY, cache_scope="team:1")
    client.copilot_user_day_report("acme", DAY, cache_scope="team:2")
    github.token = None  # accept any token: the point is what the other client sends
    with GitHubClient("another-token") as other:
        other.copilot_user_day_report("acme", DAY, cache_scope="team:1")
    assert [r.conditional for r in github.requests] == [False] * 6


def test_a_lost_body_means_an_unconditional_request(github, client):
    client.copilot_user_day_report("acme", DAY)
    cache.delete_pattern("github:http:*:body:*")  # evicted, say; the validators alone are useless
    fetched = client.copilot_user_day_report("acme", DAY)
    assert not fetched.unchanged and len(fetched.records) == 3
    assert [r.conditional for r in github.requests] == [False] * 4


def test_deferred_validators_are_saved_only_when_asked(github, client):
    fetched = client.copilot_user_day_report("acme", DAY, save_validators=False)
    assert len(fetched.pending) == 2  # the links and the one download
    assert not client.copilot_user_day_report("acme", DAY, save_validators=False).unchanged
    client.save_validators(fetched.pending)
    assert client.copilot_user_day_report("acme", DAY).unchanged


def test_unconditional_client_stores_nothing(github):
    with GitHubClient(TOKEN, conditional=False) as plain:
        plain.copilot_user_day_report("acme", DAY)
        fetched = plain.copilot_user_day_report("acme", DAY)
    assert not fetched.unchanged and fetched.pending == () and github.count(304) == 0
    assert not any(r.conditional for r in github.requests)


def test_rotating_signed_links_still_revalidate_the_downloads(settings):
    with GitHubStub(org="acme", token=TOKEN, rotate_signatures=True) as github, GitHubClient(TOKEN) as client:
        settings.GITHUB_API_URL = github.base_url
        github.set_users(LOGINS, [DAY], seed=1)
        first = client.copilot_user_day_report("acme", DAY)
        again = client.copilot_user_day_report("acme", DAY)
        assert [r.status for r in github.requests] == [200, 200, 200, 304]  # new links, same file
        assert github.requests[1].path != github.requests[3].path  # another signature
        assert again.unchanged and again.records == first.records
        github.set_users(LOGINS, [DAY], seed=2)
        assert not client.copilot_user_day_report("acme", DAY).unchanged


def test_the_token_stays_on_the_api_origin(settings):
    with GitHubStub(org="acme", token=TOKEN) as api, GitHubStub(org="storage") as storage:
        settings.GITHUB_API_URL = api.base_url
        storage.set_users(["ada"], [DAY])
        links = {"download_links": [f"{storage.base_url}/downloads/{DAY.isoformat()}.ndjson?sig=abc"]}
        api.fail_next(200, {"Content-Type": "application/json"}, json.dumps(links).encode())
        with GitHubClient(TOKEN) as client:
            fetched = client.copilot_user_day_report("acme", DAY)
        assert [r["user_login"] for r in fetched.records] == ["ada"]
        assert "authorization" in api.requests[0].headers
        assert "authorization" not in storage.requests[0].headers


def test_retry_after_is_a_rate_limit_with_its_wait(github, client):
    github.fail_next(429, {"Retry-After": "7"})
    with pytest.raises(RateLimited) as excinfo:
        client.copilot_user_day_report("acme", DAY)
    assert excinfo.value.wait_seconds == 7 and excinfo.value.status == 429 and excinfo.value.retryable


def test_exhausted_primary_limit_waits_until_the_reset(github, client):
    reset = int(time.time()) + 30
    github.fail_next(403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
    with pytest.raises(RateLimited) as excinfo:
        client.copilot_user_day_report("acme", DAY)
    assert 28 <= excinfo.value.wait_seconds <= 31 and excinfo.value.status == 403


def test_secondary_limit_without_headers_waits_a_minute(github, client):
    github.fail_next(403, body=b'{"message": "You have exceeded a secondary rate limit."}')
    with pytest.raises(RateLimited) as excinfo:
        client.copilot_user_day_report("acme", DAY)
    assert excinfo.value.wait_seconds == 60


def test_a_plain_403_is_no_rate_limit(github, client):
    github.fail_next(403, body=b'{"message": "Resource not accessible by integration"}')
    with pytest.raises(GitHubError) as excinfo:
        client.copilot_user_day_report("acme", DAY)
    assert type(excinfo.value) is Forbidden and excinfo.value.status == 403 and not excinfo.value.retryable
    assert "Resource not accessible" in str(excinfo.value) and excinfo.value.accepted == ""


def test_a_403_names_the_permission_github_asks_for(github, client):
    github.deny("copilot")
    with pytest.raises(Forbidden) as excinfo:
        client.copilot_user_day_report("acme", DAY)
    assert excinfo.value.accepted == "organization_copilot_metrics=read"
    assert excinfo.value.permissions == ["Copilot metrics"]  # a MissingPermission, named
    assert "the token needs: organization_copilot_metrics=read" in str(excinfo.value)


def test_a_401_is_an_invalid_token(github):
    with GitHubClient("wrong-token") as intruder, pytest.raises(InvalidToken) as excinfo:
        intruder.copilot_org_metrics("acme")
    assert excinfo.value.status == 401 and "wrong, expired or revoked" in str(excinfo.value)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable_unavailability(github, client, status):
    github.fail_next(status)
    with pytest.raises(GitHubUnavailable) as excinfo:
        client.copilot_user_day_report("acme", DAY)
    assert excinfo.value.status == status and excinfo.value.retryable


def test_a_failing_download_is_an_error_too(github, client):
    github.fail_next(200, {}, json.dumps({"download_links": [github.base_url + "/downloads/x.ndjson"]}).encode())
    with pytest.raises(NotFound) as excinfo:
        client.copilot_user_day_report("acme", DAY)
    assert excinfo.value.url.endswith("/downloads/x.ndjson")


def test_a_timeout_is_unavailability():
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        host, port = silent.getsockname()
        with GitHubClient(TOKEN, base_url=f"http://{host}:{port}", timeout=0.3) as client:
            with pytest.raises(GitHubUnavailable) as excinfo:
                client.copilot_user_day_report("acme", DAY)
    assert "Timeout" in str(excinfo.value) and excinfo.value.status is None


def test_no_report_is_not_found(github, client):
    with pytest.raises(NotFound) as excinfo:
        client.copilot_user_day_report("acme", dt.date(2025, 1, 1))
    assert excinfo.value.status == 404 and "day=2025-01-01" in excinfo.value.url


def test_malformed_links_json_names_the_url(github, client):
    github.fail_next(200, {}, b"<html>maintenance</html>")
    with pytest.raises(MalformedResponse) as excinfo:
        client.copilot_user_day_report("acme", DAY)
    assert "users-1-day?day=2026-03-02" in str(excinfo.value) and excinfo.value.line is None
    github.fail_next(200, {}, b'{"report_day": "2026-03-02"}')  # JSON, but no links
    with pytest.raises(MalformedResponse, match="download_links"):
        client.copilot_user_day_report("acme", DAY)


def test_malformed_ndjson_names_url_and_line_and_saves_nothing(github, client):
    github.set_raw_day(DAY, b'{"user_login": "ada", "day": "2026-03-02"}\n\n{"user_login": "grace", \n')
    with pytest.raises(MalformedResponse) as excinfo:
        client.copilot_user_day_report("acme", DAY)
    assert excinfo.value.line == 3 and excinfo.value.url.endswith("/downloads/2026-03-02.ndjson")
    assert "/downloads/2026-03-02.ndjson line 3" in str(excinfo.value)
    github.set_users(["ada"], [DAY])
    client.copilot_user_day_report("acme", DAY)
    assert not github.requests[-1].conditional  # the broken body left no validators behind


def test_records_say_where_they_come_from(github, client):
    fetched = client.copilot_user_day_report("acme", DAY)
    sources = [source for source, _ in fetched.sourced_records()]
    assert sources == [f"{github.base_url}/downloads/2026-03-02.ndjson line {n}" for n in (1, 2, 3)]


def test_org_metrics_are_the_28_day_report_nested_by_ide_feature_language_and_model(github, client):
    fetched = client.copilot_org_metrics("acme")
    (report,) = fetched.records
    assert report["report_end_day"] == "2026-03-03" and report["report_start_day"] == "2026-02-04"
    first = report["day_totals"][0]
    assert first["day"] == "2026-03-02" and first["daily_active_users"] == 3
    assert first["code_generation_activity_count"] == sum(
        fake_user_day(login, DAY, 3)["code_generation_activity_count"] for login in LOGINS
    )
    assert {"ide", "code_generation_activity_count"} <= set(first["totals_by_ide"][0])
    assert "code_completion" in {f["feature"] for f in first["totals_by_feature"]}
    assert {"language", "feature"} <= set(first["totals_by_language_feature"][0])
    assert {"totals_by_language_model", "totals_by_model_feature", "monthly_active_users"} <= set(first)
    assert (fetched.requests, fetched.not_modified) == (2, 0)
    assert client.copilot_org_metrics("acme").unchanged


def test_stub_honours_if_modified_since_without_an_etag(github):
    import httpx

    with httpx.Client(base_url=github.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        first = http.get(f"/downloads/{DAY.isoformat()}.ndjson")
        since = {"If-Modified-Since": first.headers["Last-Modified"]}
        assert http.get(first.url, headers=since).status_code == 304
        github.set_users(["ada"], [DAY], seed=5)
        assert http.get(first.url, headers=since).status_code == 200
