"""store_repositories, set_tracked and record_sync_state: constant statements, only changes written."""

import pytest

from apps.integrations.factories import TrackedRepositoryFactory
from apps.integrations.github_records import Repository
from apps.integrations.models import SyncStatus, TrackedRepository
from apps.integrations.repository_sync import UnknownRepositories, set_tracked, store_repositories
from apps.integrations.sync_status import record_sync_state
from apps.perflab.capture import capture_queries
from apps.perflab.testing import assert_constant_queries
from apps.teams.factories import TeamFactory

pytestmark = pytest.mark.django_db


def repos(*names, archived=()):
    return [Repository(name, 500 + n, is_archived=name in archived) for n, name in enumerate(names)]


def rows_of(team):
    return list(
        TrackedRepository.objects.filter(team=team)
        .order_by("name_with_owner")
        .values_list("name_with_owner", "github_id", "is_archived", "is_tracked", "status", "status_detail")
    )


def test_new_repositories_are_stored_untracked_and_pending():
    team = TeamFactory()
    counts = store_repositories(team=team, repositories=repos("acme/api", "acme/web", archived={"acme/web"}))
    assert counts == {"repositories": 2, "created": 2, "updated": 0, "gone": 0, "back": 0}
    assert rows_of(team) == [
        ("acme/api", 500, False, False, "pending", ""),
        ("acme/web", 501, True, False, "pending", ""),
    ]


def test_a_repository_missing_from_the_list_is_not_found_and_comes_back_with_its_watermark():
    team = TeamFactory()
    store_repositories(team=team, repositories=repos("acme/api", "acme/web"))
    api = TrackedRepository.objects.get(team=team, name_with_owner="acme/api")
    TrackedRepository.objects.filter(pk=api.pk).update(is_tracked=True, status="ok", pr_watermark="2026-03-01T00:00Z")

    counts = store_repositories(team=team, repositories=repos("acme/web"))
    assert (counts["gone"], counts["back"]) == (1, 0)
    api.refresh_from_db()
    assert (api.status, api.status_detail, api.is_tracked) == ("not_found", "no longer in the organisation", True)
    assert api.pr_watermark is not None  # kept: its PRs are still stored

    counts = store_repositories(team=team, repositories=repos("acme/api", "acme/web"))
    assert (counts["gone"], counts["back"]) == (0, 1)
    api.refresh_from_db()
    web = TrackedRepository.objects.get(team=team, name_with_owner="acme/web")
    assert (api.status, api.status_detail, web.status) == ("ok", "", "pending")  # ok again: it has a watermark


def test_storing_the_same_list_again_reads_once_and_writes_nothing():
    team = TeamFactory()
    listed = repos("acme/api", "acme/web")
    store_repositories(team=team, repositories=listed)
    before = rows_of(team)
    with capture_queries() as capture:
        counts = store_repositories(team=team, repositories=listed)
    assert capture.count == 1, capture.statements()
    assert counts == {"repositories": 2, "created": 0, "updated": 0, "gone": 0, "back": 0}
    assert rows_of(team) == before


def test_changed_attributes_are_updated_and_the_tracking_choice_kept():
    team = TeamFactory()
    store_repositories(team=team, repositories=repos("acme/api"))
    set_tracked(team=team, names=["acme/api"])
    counts = store_repositories(team=team, repositories=repos("acme/api", archived={"acme/api"}))
    assert counts["updated"] == 1
    assert rows_of(team) == [("acme/api", 500, True, True, "pending", "")]


def test_store_repositories_takes_three_statements_at_5_and_50():
    def prepare(size):
        team = TeamFactory()
        store_repositories(team=team, repositories=repos(*[f"acme/r{n}" for n in range(size)]))
        # a fifth archived, a fifth gone, a tenth new
        archived = {f"acme/r{n}" for n in range(size // 5)}
        listed = repos(*[f"acme/r{n}" for n in range(size - size // 5)], archived=archived)
        listed += [Repository(f"acme/new{n}", 9000 + n) for n in range(max(1, size // 10))]
        return lambda: store_repositories(team=team, repositories=listed)

    captures = assert_constant_queries(prepare, sizes=(5, 50))
    assert [q.sql.split()[0] for q in captures[1].queries] == ["SELECT", "INSERT", "UPDATE"], captures[1].statements()


def test_set_tracked_tracks_exactly_the_names_given_case_insensitively():
    team = TeamFactory()
    store_repositories(team=team, repositories=repos("acme/api", "acme/web", "acme/docs"))
    assert set_tracked(team=team, names=["Acme/API", "acme/web"]) == {"tracked": 2, "changed": 2}
    assert set_tracked(team=team, names=["acme/web", "acme/docs"]) == {"tracked": 2, "changed": 2}
    tracked = TrackedRepository.objects.filter(team=team, is_tracked=True).values_list("name_with_owner", flat=True)
    assert sorted(tracked) == ["acme/docs", "acme/web"]
    with capture_queries() as capture:
        assert set_tracked(team=team, names=["acme/web", "acme/docs"]) == {"tracked": 2, "changed": 0}
    assert capture.count == 2


def test_set_tracked_refuses_names_not_in_the_organisation_and_changes_nothing():
    team = TeamFactory()
    store_repositories(team=team, repositories=repos("acme/api", "acme/old"))
    set_tracked(team=team, names=["acme/api"])
    store_repositories(team=team, repositories=repos("acme/api"))  # acme/old left the organisation
    TrackedRepositoryFactory(name_with_owner="other/secret")  # another team's
    before = rows_of(team)
    with pytest.raises(UnknownRepositories) as excinfo:
        set_tracked(team=team, names=["acme/api", "acme/old", "other/secret", "acme/nope"])
    assert excinfo.value.names == ["acme/nope", "acme/old", "other/secret"]
    assert "not repositories of the organisation: acme/nope, acme/old, other/secret" in str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)
    assert rows_of(team) == before


def test_set_tracked_with_no_names_stops_tracking_everything():
    team = TeamFactory()
    store_repositories(team=team, repositories=repos("acme/api"))
    set_tracked(team=team, names=["acme/api"])
    assert set_tracked(team=team, names=[]) == {"tracked": 0, "changed": 1}
    assert not TrackedRepository.objects.filter(team=team, is_tracked=True).exists()


# --- sync status ---------------------------------------------------------------------------------


def test_a_sync_status_is_one_row_per_team_and_kind_updated_in_place():
    team = TeamFactory()
    with capture_queries() as capture:
        record_sync_state(team=team, kind="pull_requests", state="running")
    assert capture.count == 1
    running = SyncStatus.objects.get(team=team, kind="pull_requests")
    assert (running.state, running.finished_at, running.started_at is not None) == ("running", None, True)

    record_sync_state(team=team, kind="pull_requests", state="done", counts={"pull_requests": 120})
    done = SyncStatus.objects.get(team=team, kind="pull_requests")
    assert done.pk == running.pk and done.started_at == running.started_at  # the start is kept
    assert (done.state, done.counts, done.finished_at >= done.started_at) == ("done", {"pull_requests": 120}, True)

    retry_at = done.finished_at
    record_sync_state(team=team, kind="pull_requests", state="rate_limited", detail="GraphQL budget", retry_at=retry_at)
    record_sync_state(team=team, kind="members", state="failed", detail="InvalidToken: 401")
    states = dict(SyncStatus.objects.filter(team=team).values_list("kind", "state"))
    assert states == {"pull_requests": "rate_limited", "members": "failed"}
    assert SyncStatus.objects.get(team=team, kind="pull_requests").retry_at == retry_at


def test_an_unknown_kind_or_state_is_refused():
    with pytest.raises(ValueError, match="unknown sync kind or state"):
        record_sync_state(team=TeamFactory(), kind="issues", state="done")
