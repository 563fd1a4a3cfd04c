"""Notebook 10's experiment: the naive PR sync and the shipped one store the same rows; their costs."""

import pytest

from apps.perflab import prsync

pytestmark = pytest.mark.django_db


def test_the_baseline_and_the_shipped_sync_store_the_same_rows():
    stub = prsync.stand_in(40, repositories=2, members=8)
    try:
        shipped_team, baseline_team = prsync.fresh_team(stub, "s"), prsync.fresh_team(stub, "b")
        prsync.run_shipped(shipped_team, stub, page_size=10)
        prsync.run_baseline(baseline_team, stub)
        report = prsync.compare_rows(prsync.stored_rows(baseline_team), prsync.stored_rows(shipped_team))
    finally:
        stub.stop()
    for table, outcome in report.items():
        assert outcome["equal"], (table, outcome)
    assert report["pull_requests"]["left"] == 40 and report["reviews"]["left"] == 80
    assert report["commits"]["left"] == 120


def test_the_shipped_sync_runs_the_same_statements_per_page_at_two_page_sizes():
    per_page = {}
    stub = prsync.stand_in(100, members=8)
    try:
        for size in (10, 50):
            team = prsync.fresh_team(stub, f"p{size}")
            run = prsync.run_shipped(team, stub, page_size=size)
            assert run.pull_requests == 100 and run.pages == 100 // size
            assert run.requests == run.pages  # no nested overflow at 2 reviews and 3 commits
            assert len(run.page_statements) == run.pages and sum(run.page_statements) == run.statements
            per_page[size] = run.page_statements
    finally:
        stub.stop()
    # savepoint, people, people created, PRs, reviews, commits, the repository's row, release; a page without a
    # newcomer skips the people upsert
    assert max(per_page[10]) == max(per_page[50]) == 8, per_page
    assert min(per_page[10]) >= 7 and min(per_page[50]) >= 7


def test_the_baseline_grows_with_prs_and_the_unchanged_resync_costs_one_request_and_no_write():
    small, large = prsync.experiment(10), prsync.experiment(30)
    for result in (small, large):
        assert result.same_rows is True
        assert result.unchanged.requests == 1 and result.unchanged.writes == 0 and result.unchanged.statements == 0
        assert result.baseline.requests == 1 + 2 * result.prs  # one list page (<= 100), reviews and commits per PR
        assert result.shipped.requests == 1
    assert large.baseline.statements > 2.5 * small.baseline.statements
    assert large.shipped.statements == small.shipped.statements  # one page either way
    assert large.row_counts["pull_requests"] == 30 and large.row_counts["commits"] == 90


def test_the_experiment_spreads_prs_over_repositories():
    result = prsync.experiment(30, repositories=3, baseline=False)
    assert result.baseline is None and result.same_rows is None
    assert result.shipped.requests == 3 and result.unchanged.requests == 3 and result.unchanged.writes == 0
    assert [run.variant for run in result.runs] == ["shipped", "shipped, unchanged"]


def test_the_stand_in_lists_pulls_reviews_and_commits_over_rest_with_link_headers():
    import httpx

    stub = prsync.stand_in(7, members=4)
    try:
        with httpx.Client(base_url=stub.base_url, headers={"Authorization": f"Bearer {prsync.TOKEN}"}) as http:
            first = http.get("/repos/acme/api/pulls", params={"state": "all", "per_page": 3})
            assert [len(first.json()), first.links["next"]["url"].endswith("page=2")] == [3, True]
            assert first.links["last"]["url"].endswith("page=3") and "prev" not in first.links
            last = http.get(first.links["last"]["url"])
            assert len(last.json()) == 1 and "next" not in last.links and "prev" in last.links
            pull = first.json()[0]
            assert {"number", "user", "head", "merged_at", "additions", "deletions"} <= pull.keys()
            reviews = http.get(f"/repos/acme/api/pulls/{pull['number']}/reviews").json()
            commits = http.get(f"/repos/acme/api/pulls/{pull['number']}/commits").json()
            assert len(reviews) == 2 and {"id", "user", "state", "submitted_at"} <= reviews[0].keys()
            assert len(commits) == 3 and {"sha", "commit", "author", "stats"} <= commits[0].keys()
            assert http.get("/repos/acme/nope/pulls").status_code == 404
            assert http.get(f"/repos/acme/api/pulls/{pull['number']}/files").status_code == 404
            stub.deny("pull_requests")
            assert http.get("/repos/acme/api/pulls").status_code == 403
    finally:
        stub.stop()


def test_a_burst_of_signed_webhook_deliveries_is_stored_in_few_statements_and_replays_change_nothing():
    stub = prsync.stand_in(20, members=6)
    try:
        team = prsync.fresh_team(stub, "hooks")
        prsync.run_shipped(team, stub)
        burst = prsync.webhook_burst(team, stub, edits=3, reviews=3)
        titles = sorted(title for _, _, title, *rest in prsync.stored_rows(team)["pull_requests"] if "edited" in title)
    finally:
        stub.stop()
    assert burst.deliveries == 6 and set(burst.statuses) == {200} and set(burst.replay_statuses) == {200}
    assert burst.max_statements <= 8, burst.statements  # <= 5 for the event, plus the test's savepoint pair
    assert burst.replays_changed_nothing and len(titles) == 3
