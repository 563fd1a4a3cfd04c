"""The loopback GitHub stub behaves like the API the sync talks to: links, NDJSON, ETags, failures."""

import datetime as dt
import json

import httpx

from apps.perflab.github_stub import GitHubStub

DAY = dt.date(2026, 3, 2)
PATH = "/orgs/acme/copilot/metrics/reports/users-1-day"


def test_links_then_ndjson_with_etags_and_304():
    with GitHubStub(org="acme", token="t0k") as github, httpx.Client(
        base_url=github.base_url, headers={"Authorization": "Bearer t0k"}
    ) as client:
        github.set_day(DAY, [{"user_login": "ada", "day": "2026-03-02"}])
        links = client.get(PATH, params={"day": "2026-03-02"})
        assert links.status_code == 200 and links.json()["report_day"] == "2026-03-02"
        download = client.get(links.json()["download_links"][0])
        assert [json.loads(line) for line in download.text.splitlines()] == [{"day": "2026-03-02", "user_login": "ada"}]
        again = client.get(download.url, headers={"If-None-Match": download.headers["ETag"]})
        assert again.status_code == 304 and again.content == b""
        github.set_day(DAY, [{"user_login": "grace", "day": "2026-03-02"}])  # new data, new ETag
        changed = client.get(download.url, headers={"If-None-Match": download.headers["ETag"]})
        assert changed.status_code == 200 and "grace" in changed.text
        assert github.count(304) == 1 and [r.conditional for r in github.requests] == [False, False, True, True]


def test_auth_unknown_days_and_queued_failures():
    with GitHubStub(org="acme", token="t0k") as github, httpx.Client(base_url=github.base_url) as client:
        assert client.get(PATH, params={"day": "2026-03-02"}).status_code == 401
        auth = {"Authorization": "Bearer t0k"}
        assert client.get(PATH, params={"day": "2026-03-02"}, headers=auth).status_code == 404
        assert client.get(PATH, params={"day": "nope"}, headers=auth).status_code == 422
        github.fail_next(429, {"Retry-After": "7"})
        limited = client.get(PATH, params={"day": "2026-03-02"}, headers=auth)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
        assert github.request_count == 4
