"""The loopback GitHub stub behaves like the API the sync talks to: links, NDJSON, ETags, failures."""

import datetime as dt
import hashlib
import hmac
import json

import httpx
import pytest

from apps.perflab.github_stub import (
    GitHubStub,
    OrgSpec,
    generate_organization,
    pull_request_event,
    pull_request_review_event,
    send_webhook,
    webhook_request,
)

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


# --- the organisation: REST, GraphQL, changes, errors, webhooks ---------------------------------

MEMBERS = """query Members($org: String!, $first: Int!, $after: String) {
  organization(login: $org) {
    membersWithRole(first: $first, after: $after) {
      nodes { login databaseId name avatarUrl } pageInfo { hasNextPage endCursor } } }
  rateLimit { cost remaining resetAt } }"""
PULLS = """query PullRequests($owner: String!, $name: String!, $first: Int!, $after: String, $reviews: Int!,
  $commits: Int!) {
  repository(owner: $owner, name: $name) {
    pullRequests(first: $first, after: $after, orderBy: {field: UPDATED_AT, direction: DESC}) {
      nodes { number updatedAt state author { __typename login ... on User { databaseId } ... on Bot { databaseId } }
        reviews(first: $reviews) { nodes { state } pageInfo { hasNextPage endCursor } }
        commits(first: $commits) { nodes { commit { oid } } pageInfo { hasNextPage } } }
      pageInfo { hasNextPage endCursor } } }
  rateLimit { cost remaining resetAt } }"""


@pytest.fixture
def org():
    stub = GitHubStub.with_organization("acme", "t0k", members=7, repositories=2, prs_per_repository=12)
    with stub, httpx.Client(base_url=stub.base_url, headers={"Authorization": "Bearer t0k"}) as client:
        yield stub, client


def graphql(client, query, **variables):
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200
    return response.json()


def test_the_data_is_deterministic_and_has_every_kind_of_author():
    spec = OrgSpec(members=5, repositories=2, prs_per_repository=10, seed=4)
    one, two = generate_organization("acme", spec), generate_organization("acme", spec)
    assert [m.login for m in one.members] == [m.login for m in two.members]
    first = one.repository("acme/api").pull_requests
    assert [(p.title, p.updated_at, p.additions) for p in first.values()] == [
        (p.title, p.updated_at, p.additions) for p in two.repository("api").pull_requests.values()
    ]
    assert first[1].author.is_bot and first[2].author in one.outside_contributors and first[3].author is None
    assert all(len(p.reviews) == 2 and len(p.commits) == 3 for r in one.repositories.values()
               for p in r.pull_requests.values())
    assert all(p.updated_at <= spec.end and p.created_at <= p.updated_at for p in first.values())
    assert generate_organization("acme", OrgSpec(member_logins=["ada", "grace"])).members[1].login == "grace"


def test_rest_user_scopes_and_organisation():
    with GitHubStub(org="acme", token="t0k", viewer="ada", scopes=["read:org", "repo"]) as github:
        auth = {"Authorization": "Bearer t0k"}
        user = httpx.get(github.base_url + "/user", headers=auth)
        assert user.json()["login"] == "ada" and user.headers["X-OAuth-Scopes"] == "read:org, repo"
        assert httpx.get(github.base_url + "/user").status_code == 401
        assert httpx.get(github.base_url + "/orgs/ACME", headers=auth).json()["login"] == "acme"
        assert httpx.get(github.base_url + "/orgs/nope", headers=auth).status_code == 404
    with GitHubStub(org="acme") as github:  # a fine-grained token: no scopes header
        user = httpx.get(github.base_url + "/user", headers={"Authorization": "Bearer x"})
        assert user.status_code == 200 and "X-OAuth-Scopes" not in user.headers


def test_members_page_by_cursor_and_spend_the_budget(org):
    github, client = org
    first = graphql(client, MEMBERS, org="acme", first=5)
    page = first["data"]["organization"]["membersWithRole"]
    assert len(page["nodes"]) == 5 and page["pageInfo"]["hasNextPage"]
    rest = graphql(client, MEMBERS, org="acme", first=5, after=page["pageInfo"]["endCursor"])
    second = rest["data"]["organization"]["membersWithRole"]
    logins = [n["login"] for n in page["nodes"] + second["nodes"]]
    assert logins == [m.login for m in github.organization.members] and not second["pageInfo"]["hasNextPage"]
    assert (first["data"]["rateLimit"]["remaining"], rest["data"]["rateLimit"]["remaining"]) == (4999, 4998)
    assert github.count_operation("Members") == 2 and github.request_counts() == {"Members": 2}


def test_pull_requests_newest_update_first_with_their_nested_connections(org):
    github, client = org
    nodes, after = [], None
    while True:
        data = graphql(client, PULLS, owner="acme", name="api", first=5, after=after, reviews=1, commits=3)["data"]
        page = data["repository"]["pullRequests"]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(nodes) == 12 and github.count_operation("PullRequests") == 3
    times = [n["updatedAt"] for n in nodes]
    assert times == sorted(times, reverse=True)
    assert all(n["reviews"]["pageInfo"]["hasNextPage"] and len(n["reviews"]["nodes"]) == 1 for n in nodes)
    bot = next(n for n in nodes if n["number"] == 1)["author"]
    assert bot["__typename"] == "Bot" and bot["login"] in ("dependabot", "renovate") and "name" not in bot
    assert next(n for n in nodes if n["number"] == 3)["author"] is None
    assert "title" not in nodes[0]  # not asked for, not sent


def test_a_change_moves_a_pull_request_to_the_top(org):
    github, client = org
    github.update_pull_request("api", 4, title="Renamed", state="MERGED")
    review = github.add_review("api", 5, state="CHANGES_REQUESTED")
    first = graphql(client, PULLS, owner="acme", name="api", first=2, reviews=10, commits=1)["data"]
    numbers = [n["number"] for n in first["repository"]["pullRequests"]["nodes"]]
    assert numbers == [5, 4] and github.pull_request("api", 4).merged_at is not None
    assert review.state == "CHANGES_REQUESTED" and len(github.pull_request("api", 5).reviews) == 3
    new = github.add_pull_request("acme/web", author="someone-new")
    assert new.number == 13 and github.organization.actor("someone-new") in github.organization.outside_contributors


def test_graphql_errors_as_github_gives_them(org):
    github, client = org
    assert graphql(client, MEMBERS, org="nope", first=1)["errors"][0]["type"] == "NOT_FOUND"
    too_many = graphql(client, MEMBERS, org="acme", first=101)["errors"][0]
    assert too_many["type"] == "EXCESSIVE_PAGINATION" and "100" in too_many["message"]
    bad_cursor = graphql(client, MEMBERS, org="acme", first=1, after="bm9wZQ==")["errors"][0]
    assert bad_cursor["type"] == "INVALID_CURSOR_ARGUMENTS"
    assert "answers no operation" in graphql(client, "query Other { viewer { login } }")["errors"][0]["message"]
    github.delete_repository("api")
    gone = graphql(client, PULLS, owner="acme", name="api", first=1, reviews=1, commits=1)
    assert gone["data"] is None and "acme/api" in gone["errors"][0]["message"]
    github.deny("members", "pull_requests")
    denied = graphql(client, MEMBERS, org="acme", first=1)
    assert denied["errors"][0]["type"] == "FORBIDDEN" and denied["data"]["organization"]["membersWithRole"] is None
    assert graphql(client, PULLS, owner="acme", name="web", first=1, reviews=1, commits=1)["errors"][0]["path"] == [
        "repository", "pullRequests"]
    with pytest.raises(ValueError, match="unknown permission"):
        github.deny("admin")


def test_rate_limit_budget_runs_out(org):
    github, client = org
    github.set_rate_limit(remaining=1)
    assert graphql(client, MEMBERS, org="acme", first=1)["data"]["rateLimit"]["remaining"] == 0
    exhausted = client.post("/graphql", json={"query": MEMBERS, "variables": {"org": "acme", "first": 1}})
    assert exhausted.json()["errors"][0]["type"] == "RATE_LIMITED" and exhausted.headers["X-RateLimit-Remaining"] == "0"


def test_targeted_failures_wait_for_their_request(org):
    github, client = org
    github.fail_next(502, operation="PullRequests")
    github.fail_graphql_next("Something went wrong", operation="Members")
    assert client.get("/user").status_code == 200  # passes both by
    assert graphql(client, MEMBERS, org="acme", first=1)["errors"] == [{"message": "Something went wrong"}]
    assert client.post("/graphql", json={"query": PULLS, "variables": {}}).status_code == 502
    assert client.post("/graphql", content=b"{not json").status_code == 400
    assert [r.status for r in github.requests] == [200, 200, 502, 400]


def test_a_comment_on_a_pull_request_is_created_recorded_and_refused_like_github(org):
    github, client = org
    path = "/repos/acme/api/issues/3/comments"
    created = client.post(path, json={"body": "Hello @ada"})
    assert created.status_code == 201
    comment = created.json()
    assert comment["body"] == "Hello @ada" and isinstance(comment["id"], int)
    assert comment["html_url"] == f"https://github.com/acme/api/pull/3#issuecomment-{comment['id']}"
    assert comment["user"]["login"] == github.viewer and comment["issue_url"].endswith("/repos/acme/api/issues/3")
    [recorded] = github.comments("api", 3)
    assert (recorded.repository, recorded.number, recorded.body) == ("acme/api", 3, "Hello @ada")
    assert recorded.database_id == comment["id"]
    second = client.post("/repos/acme/web/issues/3/comments", json={"body": "Another"}).json()
    assert second["id"] != comment["id"]
    assert [c.body for c in github.comments()] == ["Hello @ada", "Another"] and github.comments("acme/api", 4) == []
    # an unknown PR, repository or organisation is 404; no body 422; no token 401; nothing recorded
    assert client.post("/repos/acme/api/issues/999/comments", json={"body": "x"}).status_code == 404
    assert client.post("/repos/acme/nope/issues/1/comments", json={"body": "x"}).status_code == 404
    assert client.post("/repos/other/api/issues/1/comments", json={"body": "x"}).status_code == 404
    assert client.post(path, json={"body": "  "}).status_code == 422
    assert client.post(path, json={}).status_code == 422
    assert client.post(path, content=b"{not json").status_code == 400
    assert httpx.post(github.base_url + path, json={"body": "x"}).status_code == 401
    # a queued failure for this path answers instead, once
    github.fail_next(502, path=path)
    assert client.post(path, json={"body": "x"}).status_code == 502
    assert client.post(path, json={"body": "after"}).status_code == 201
    github.deny("pull_requests")
    refused = client.post(path, json={"body": "x"})
    assert refused.status_code == 403 and refused.headers["X-Accepted-GitHub-Permissions"] == "pull_requests=write"
    assert [c.body for c in github.comments("api", 3)] == ["Hello @ada", "after"]


def test_copilot_denied_is_a_403_naming_the_permission(org):
    github, client = org
    github.deny("copilot")
    answer = client.get("/orgs/acme/copilot/metrics/reports/organization-28-day/latest")
    assert answer.status_code == 403
    assert answer.headers["X-Accepted-GitHub-Permissions"] == "organization_copilot_metrics=read"


def test_webhook_deliveries_are_signed_like_githubs(org):
    github, _ = org
    pr = github.update_pull_request("api", 6, state="MERGED")
    payload = pull_request_event("closed", pr)
    body, headers = webhook_request("pull_request", payload, secret="s3cret", delivery="d-1")
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Hub-Signature-256"], expected) and headers["X-GitHub-Delivery"] == "d-1"
    sent = payload["pull_request"]
    assert (sent["merged"], sent["state"], sent["number"]) == (True, "closed", 6)
    assert sent["base"]["repo"]["full_name"] == "acme/api" and sent["id"] == pr.database_id
    assert sent["user"]["type"] in ("User", "Bot") and sent["merged_at"].endswith("Z")
    review = github.add_review("api", 6, state="APPROVED")
    review_payload = pull_request_review_event("submitted", github.pull_request("api", 6), review)
    assert review_payload["review"]["state"] == "approved" and review_payload["review"]["id"] == review.database_id
    ghost = pull_request_event("opened", github.pull_request("api", 3))["pull_request"]["user"]
    assert ghost["login"] == "ghost"

    with GitHubStub(org="receiver") as receiver:  # any HTTP server will do: the stub logs what it got
        response = send_webhook(receiver.base_url + "/webhooks/github", "pull_request", payload, secret="s3cret")
        assert response.status_code == 404
        logged = receiver.requests[0]
        assert logged.method == "POST" and logged.headers["x-github-event"] == "pull_request"
        assert logged.headers["x-hub-signature-256"].startswith("sha256=")
