"""Query records per view (apps/perflab/records.py): every page's statements, as fingerprints, match the committed
files in tests/query_records/; a changed join or an extra statement fails with a diff naming the view.

Regenerate after a deliberate change: ``make query-records``.
"""

import pytest

from apps.metrics.services import pr_list_service
from apps.metrics.views import pr_list_views
from apps.perflab import records
from apps.teams.models import Team

pytestmark = pytest.mark.django_db

PR_LIST = "metrics:pr_list"
PR_LIST_FILE = "metrics.pr_list.txt"


def test_every_view_matches_its_committed_record():
    diffs = records.differences(records.committed_files(), records.generate_files())
    assert not diffs, records.failure_message(diffs)


def test_every_view_runs_the_same_statements_at_both_sizes():
    recorded, not_recorded = records.record_views(records.build_worlds())
    assert len(recorded) >= 20, [r.route.name for r in recorded]  # every page a signed-in user reaches
    assert set(not_recorded) >= {"logout", "teams:sync_now", "surveys:link_me"}  # POST targets
    grows = [r.route.name for r in recorded if not r.constant]
    assert not grows, f"statements that depend on the team's size: {grows}"
    by_name = {r.route.name: r for r in recorded}
    assert by_name["metrics:pr_list_export"].cold["large"].status == 200  # the stream was read to its end


def _pr_list_now() -> dict[str, str]:
    return records.render_all(*records.record_views(records.build_worlds(), [PR_LIST]))


def test_a_changed_join_fails_with_a_diff_of_that_statement(monkeypatch):
    filtered = pr_list_service.filter_pull_requests
    monkeypatch.setattr(
        pr_list_service, "filter_pull_requests", lambda *a, **k: filtered(*a, **k).select_related("team")
    )
    now = _pr_list_now()
    diffs = records.differences(
        {PR_LIST_FILE: records.committed_files()[PR_LIST_FILE]}, {PR_LIST_FILE: now[PR_LIST_FILE]}
    )
    (diff,) = diffs
    assert "committed tests/query_records/metrics.pr_list.txt" in diff
    added = [line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert any('INNER JOIN "teams_team"' in line for line in added), diff
    assert "make query-records" in records.failure_message(diffs)


def test_an_extra_statement_fails_with_the_new_count(monkeypatch):
    page = pr_list_views.pull_request_page

    def with_an_extra_statement(team, *args, **kwargs):
        Team.objects.filter(pk=team.pk).exists()
        return page(team, *args, **kwargs)

    monkeypatch.setattr(pr_list_views, "pull_request_page", with_an_extra_statement)
    committed = records.committed_files()[PR_LIST_FILE]
    (diff,) = records.differences({PR_LIST_FILE: committed}, {PR_LIST_FILE: _pr_list_now()[PR_LIST_FILE]})
    assert "-cold (this run's cache keys deleted first): small 5, large 5 statements" in diff
    assert "+cold (this run's cache keys deleted first): small 6, large 6 statements" in diff


@pytest.mark.allow_repeats("the test's own N+1: a statement per member, to show the record is not constant")
def test_a_statement_per_member_is_not_constant(monkeypatch):
    page = pr_list_views.pull_request_page

    def per_member(team, *args, **kwargs):
        for member_id in team.members.values_list("id", flat=True):
            team.members.filter(pk=member_id).exists()
        return page(team, *args, **kwargs)

    monkeypatch.setattr(pr_list_views, "pull_request_page", per_member)
    (record,), _ = records.record_views(records.build_worlds(), [PR_LIST])
    assert not record.constant
    assert len(record.cold["large"].fingerprints) - len(record.cold["small"].fingerprints) == 45
    assert "NOT CONSTANT across sizes" in record.render()
    assert "cold (this run's cache keys deleted first) at large:" in record.render()
