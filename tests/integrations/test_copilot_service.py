"""sync_copilot_metrics against the loopback stub: three statements, the baseline's rows, 304s write nothing."""

import datetime as dt

import httpx
import pytest
from django.db import connection

from apps.integrations.copilot_records import MalformedCopilotRecord
from apps.integrations.copilot_service import DEFAULT_WINDOW_DAYS, sync_copilot_metrics, sync_window
from apps.integrations.factories import GitHubIntegrationFactory
from apps.integrations.github import GitHubClient, GitHubUnavailable, MalformedResponse, NotFound, RateLimited
from apps.integrations.models import GitHubIntegration
from apps.metrics.factories import TeamMemberFactory
from apps.metrics.models import AIUsageDaily
from apps.metrics.services.team_cache import team_data_version
from apps.perflab import baselines
from apps.perflab.capture import capture_queries
from apps.perflab.github_stub import GitHubStub, fake_user_day
from apps.perflab.testing import assert_constant_queries, assert_max_queries
from apps.teams.factories import TeamFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 4, 1)
YESTERDAY = TODAY - dt.timedelta(days=1)
TOKEN = "ghp_service_test_token"


def days_back(count: int, *, last: dt.date = YESTERDAY) -> list[dt.date]:
    return [last - dt.timedelta(days=n) for n in reversed(range(count))]


def make_team(logins, *, org="acme", synced_through=None):
    team = TeamFactory()
    for login in logins:
        TeamMemberFactory(team=team, github_username=login)
    GitHubIntegrationFactory(
        team=team, organization_slug=org, access_token=TOKEN, copilot_synced_through=synced_through
    )
    return team


def rows_of(team):
    """Stored Copilot rows as comparable tuples, keyed by the member's login."""
    return sorted(
        AIUsageDaily.objects.filter(team=team, source="copilot").values_list(
            "member__github_username", "date", "suggestions_shown", "suggestions_accepted", "lines_suggested",
            "lines_accepted", "chat_interactions", "acceptance_rate",
        )
    )


@pytest.fixture
def github(settings):
    with GitHubStub(org="acme", token=TOKEN) as stub:
        settings.GITHUB_API_URL = stub.base_url
        yield stub


@pytest.fixture
def sync(django_capture_on_commit_callbacks):
    """The service as a task runs it: on-commit work (validators, cache version) done at the end."""

    def run(team, **options):
        with django_capture_on_commit_callbacks(execute=True):
            return sync_copilot_metrics(team, today=TODAY, **options)

    return run


# --- statements -----------------------------------------------------------------------------


def test_three_statements_whatever_the_users_and_days(settings, django_capture_on_commit_callbacks):
    stubs = []

    def prepare(users):
        days = 3 if users == 5 else 10
        logins = [f"dev-{users}-{n}" for n in range(users)]
        team = make_team(logins)
        stub = GitHubStub(org="acme", token=TOKEN).start()
        stubs.append(stub)
        stub.set_users([*logins, "outsider"], days_back(days), seed=users)
        settings.GITHUB_API_URL = stub.base_url
        team = type(team).objects.select_related("github_integration").get(pk=team.pk)  # as the task loads it
        return lambda: sync_copilot_metrics(team, since=YESTERDAY - dt.timedelta(days=days - 1), today=TODAY)

    try:
        small, large = assert_constant_queries(prepare, sizes=(5, 50))
    finally:
        for stub in stubs:
            stub.stop()
    assert small.count == large.count == 3, large.report(full=True)
    assert [q.sql.split()[0] for q in large.queries] == ["SELECT", "INSERT", "UPDATE"]
    assert not large.has_n_plus_one


def test_the_member_lookup_uses_the_functional_login_index(github):
    team = make_team(["ada"])
    github.set_users(["ada"], days_back(1))
    with capture_queries() as capture:
        sync_copilot_metrics(team, today=TODAY)
    lookup = capture.queries[0]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: ask whether the index *can* serve it
        # On a tiny table the plain team_id index can look as cheap, depending on the statistics the rest of
        # the suite left: without it (dropped inside the test's transaction, rolled back), the planner either
        # matches the lookup to the functional index or falls back to a disabled seq scan.
        cursor.execute("DROP INDEX metrics_teammember_team_id_482354d8")
        cursor.execute("EXPLAIN " + lookup.sql, lookup.params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "teammember_unique_team_github_username" in plan, plan


# --- the same answer as the baseline ------------------------------------------------------------


def test_writes_what_the_baseline_writes(github, sync):
    logins = ["ada", "Grace-H", "linus", "margaret"]
    team = make_team(logins)
    days = days_back(DEFAULT_WINDOW_DAYS)
    served = [login.upper() for login in logins[:2]] + logins[2:] + ["stranger", "Octocat"]
    github.set_users(served, days, seed=7)

    with httpx.Client(base_url=github.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        records, _ = baselines.fetch_copilot_reports(http, "acme", days)
    expected = baselines.sync_copilot_days(team, baselines.group_records_by_day(records))
    baseline_rows = rows_of(team)
    AIUsageDaily.objects.filter(team=team).delete()

    result = sync(team)
    assert rows_of(team) == baseline_rows and len(baseline_rows) == 4 * DEFAULT_WINDOW_DAYS
    assert result.rows_written == expected["rows_written"]
    assert list(result.unknown_logins) == expected["unknown_logins"] == ["Octocat", "stranger"]
    assert result.unknown_count == 2
    assert result.days_fetched == result.days_changed == DEFAULT_WINDOW_DAYS
    assert result.synced_through == YESTERDAY == GitHubIntegration.objects.get(team=team).copilot_synced_through


def test_record_fields_map_to_usage_columns(github, sync):
    team = make_team(["ada"])
    github.set_users(["ada"], days_back(1), seed=3)
    sync(team)
    record = fake_user_day("ada", YESTERDAY, 3)
    row = AIUsageDaily.objects.get(team=team)
    assert (row.date, row.source) == (YESTERDAY, "copilot")
    assert row.suggestions_shown == record["code_generation_activity_count"]
    assert row.suggestions_accepted == record["code_acceptance_activity_count"]
    assert row.lines_suggested == record["loc_suggested_to_add_sum"]
    assert row.lines_accepted == record["loc_added_sum"]
    assert row.chat_interactions == record["user_initiated_interaction_count"]


def test_logins_match_case_insensitively(github, sync):
    team = make_team(["Ada-Lovelace"])
    github.set_day(YESTERDAY, [{"user_login": "ada-lovelace", "day": YESTERDAY.isoformat(),
                                "code_generation_activity_count": 10, "code_acceptance_activity_count": 4}])
    github.set_day(YESTERDAY - dt.timedelta(days=1), [{"user_login": "ADA-LOVELACE", "day": "2026-03-30"}])
    result = sync(team, since=YESTERDAY - dt.timedelta(days=1))
    assert (result.rows_written, result.unknown_count) == (2, 0)
    assert [r[0] for r in rows_of(team)] == ["Ada-Lovelace", "Ada-Lovelace"]


def test_unknown_logins_are_reported_not_dropped_silently(github, sync):
    team = make_team(["ada"])
    github.set_users(["ada", "ghost", "phantom"], days_back(2))
    result = sync(team, since=YESTERDAY - dt.timedelta(days=1))
    assert (result.rows_written, result.unknown_logins, result.unknown_count) == (2, ("ghost", "phantom"), 2)
    assert result.as_dict()["unknown_logins"] == ["ghost", "phantom"]


def test_a_login_twice_in_a_day_keeps_its_last_record(github, sync):
    team = make_team(["ada"])
    day = YESTERDAY.isoformat()
    github.set_day(YESTERDAY, [{"user_login": "ada", "day": day, "code_generation_activity_count": 1},
                               {"user_login": "ADA", "day": day, "code_generation_activity_count": 9}])
    assert sync(team).rows_written == 1
    assert AIUsageDaily.objects.get(team=team).suggestions_shown == 9


# --- conditional requests and writes ------------------------------------------------------------


def test_second_sync_of_unchanged_days_is_304s_and_no_statement(github, sync):
    team = make_team(["ada", "grace"])
    days = days_back(5)
    github.set_users(["ada", "grace"], days)
    first = sync(team, since=days[0])
    version = team_data_version(team.id)
    assert (first.requests, first.not_modified, first.rows_written) == (10, 0, 10) and version == 1
    github.reset_log()

    with assert_max_queries(0):
        second = sync(team, since=days[0])
    assert (second.requests, second.not_modified, second.bytes, second.rows_written) == (10, 10, 0, 0)
    assert second.unchanged and second.days_fetched == 5 and second.days_changed == 0
    assert all(r.status == 304 and r.conditional for r in github.requests)
    assert team_data_version(team.id) == version  # cached figures stay valid
    assert second.synced_through == YESTERDAY


def test_changed_upstream_day_is_the_only_one_downloaded_and_written(github, sync):
    team = make_team(["ada", "grace"])
    days = days_back(5)
    github.set_users(["ada", "grace"], days, seed=1)
    sync(team, since=days[0])
    github.set_users(["ada", "grace"], [days[2]], seed=2)  # GitHub restates one day
    github.reset_log()

    result = sync(team, since=days[0])
    assert (result.days_changed, result.rows_written, result.not_modified) == (1, 2, 9)
    assert [r.path for r in github.downloads(200)] == [f"/downloads/{days[2].isoformat()}.ndjson"]
    stored = AIUsageDaily.objects.get(team=team, member__github_username="ada", date=days[2])
    assert stored.suggestions_shown == fake_user_day("ada", days[2], 2)["code_generation_activity_count"]
    assert team_data_version(team.id) == 2


def test_resync_is_idempotent(github, sync):
    team = make_team(["ada", "grace"])
    github.set_users(["ada", "grace", "x"], days_back(3))
    first = sync(team, since=days_back(3)[0])
    rows = rows_of(team)
    again = sync(team, since=days_back(3)[0], refresh=True)  # write everything again, from the cached bodies
    assert rows_of(team) == rows and again.rows_written == first.rows_written == 6
    assert again.not_modified == again.requests == 6 and again.unknown_logins == ("x",)
    assert AIUsageDaily.objects.filter(team=team).count() == 6


def test_refresh_picks_up_members_added_later(github, sync):
    team = make_team(["ada"])
    github.set_users(["ada", "grace"], days_back(2))
    assert sync(team, since=days_back(2)[0]).unknown_logins == ("grace",)
    TeamMemberFactory(team=team, github_username="Grace")
    assert sync(team, since=days_back(2)[0]).rows_written == 0  # 304s: already stored, skipped
    result = sync(team, since=days_back(2)[0], refresh=True)
    assert (result.rows_written, result.unknown_count) == (4, 0)


def test_validators_are_kept_only_after_a_commit(github):
    team = make_team(["ada"])
    github.set_users(["ada"], days_back(2))
    sync_copilot_metrics(team, today=TODAY)  # the test's transaction never commits: no on-commit work
    github.reset_log()
    result = sync_copilot_metrics(team, today=TODAY, since=days_back(2)[0])
    assert result.not_modified == 0 and result.rows_written == 2  # fetched and written again


def test_two_teams_on_one_org_and_token_both_get_their_rows(github, sync):
    first, second = make_team(["ada"]), make_team(["ada"])
    github.set_users(["ada"], days_back(2))
    assert sync(first).rows_written == 2
    assert sync(second).rows_written == 2  # validators are per team: no borrowed 304s


# --- windows --------------------------------------------------------------------------------------


def test_windows_first_default_then_from_the_last_synced_day():
    assert sync_window(None, today=TODAY) == days_back(DEFAULT_WINDOW_DAYS)
    assert sync_window(dt.date(2026, 3, 29), today=TODAY) == [dt.date(2026, 3, 29), dt.date(2026, 3, 30), YESTERDAY]
    assert sync_window(YESTERDAY, today=TODAY) == [YESTERDAY]
    assert sync_window(None, since=dt.date(2026, 3, 1), today=TODAY)[0] == dt.date(2026, 3, 1)
    assert sync_window(None, since=TODAY, today=TODAY) == []


def test_incremental_sync_fetches_the_missing_days_and_the_last_one_again(github, django_capture_on_commit_callbacks):
    team = make_team(["ada", "grace"])
    github.set_users(["ada", "grace"], days_back(40, last=TODAY + dt.timedelta(days=2)))
    with django_capture_on_commit_callbacks(execute=True):
        first = sync_copilot_metrics(team, today=TODAY)
    assert first.days_fetched == DEFAULT_WINDOW_DAYS and first.synced_through == YESTERDAY
    assert first.rows_written == 2 * DEFAULT_WINDOW_DAYS
    github.reset_log()

    later = TODAY + dt.timedelta(days=3)
    with django_capture_on_commit_callbacks(execute=True):
        second = sync_copilot_metrics(team, today=later)
    report_days = [r.path.rsplit("=", 1)[-1] for r in github.requests if "users-1-day" in r.path]
    assert report_days == [(YESTERDAY + dt.timedelta(days=n)).isoformat() for n in range(4)]
    assert second.days_changed == 3 and second.not_modified == 2  # the last synced day: unchanged
    assert second.rows_written == 6 and second.synced_through == later - dt.timedelta(days=1)
    assert GitHubIntegration.objects.get(team=team).copilot_synced_through == later - dt.timedelta(days=1)


def test_up_to_date_means_no_request(github, sync):
    team = make_team(["ada"], synced_through=YESTERDAY)
    github.set_users(["ada"], [YESTERDAY])
    result = sync(team, since=TODAY)
    assert (result.days_fetched, result.requests, github.request_count) == (0, 0, 0)


def test_a_day_without_report_is_skipped_and_synced_through_stops_before(github, sync):
    team = make_team(["ada"])
    github.set_users(["ada"], days_back(3, last=YESTERDAY - dt.timedelta(days=1)))  # yesterday not processed yet
    result = sync(team, since=YESTERDAY - dt.timedelta(days=3))
    assert result.missing_days == (YESTERDAY,) and result.rows_written == 3
    assert result.synced_through == YESTERDAY - dt.timedelta(days=1)
    assert result.as_dict()["missing_days"] == [YESTERDAY.isoformat()]


def test_no_report_at_all_is_an_error(github, sync):
    team = make_team(["ada"], org="acme")
    with pytest.raises(NotFound):
        sync(team)


def test_synced_through_never_moves_back(github, sync):
    team = make_team(["ada"], synced_through=YESTERDAY)
    github.set_users(["ada"], days_back(10))
    result = sync(team, since=YESTERDAY - dt.timedelta(days=9), refresh=True)
    assert result.rows_written == 10
    assert GitHubIntegration.objects.get(team=team).copilot_synced_through == YESTERDAY


# --- failures write nothing ------------------------------------------------------------------------


def assert_nothing_written(team):
    assert AIUsageDaily.objects.filter(team=team).count() == 0
    assert GitHubIntegration.objects.get(team=team).copilot_synced_through is None
    assert team_data_version(team.id) == 0


def test_rate_limit_raises_with_the_wait_and_writes_nothing(github, sync):
    team = make_team(["ada"])
    github.set_users(["ada"], days_back(3))
    github.fail_next(200, {}, b'{"download_links": []}')  # day 1: fine (empty)...
    github.fail_next(429, {"Retry-After": "120"})  # ...day 2: limited
    with pytest.raises(RateLimited) as excinfo:
        sync(team, since=days_back(3)[0])
    assert excinfo.value.wait_seconds == 120
    assert_nothing_written(team)


def test_github_outage_raises_unavailable_and_writes_nothing(github, sync):
    team = make_team(["ada"])
    github.set_users(["ada"], days_back(3))
    github.fail_next(200, {}, b'{"download_links": []}')
    github.fail_next(502)
    with pytest.raises(GitHubUnavailable):
        sync(team, since=days_back(3)[0])
    assert_nothing_written(team)


def test_malformed_ndjson_names_the_url_and_writes_nothing(github, sync):
    team = make_team(["ada"])
    days = days_back(3)
    github.set_users(["ada"], days)
    github.set_raw_day(days[1], b'{"user_login": "ada", "day": "2026-03-30"}\n{"user_login": \n')
    with pytest.raises(MalformedResponse) as excinfo:
        sync(team, since=days[0])
    assert excinfo.value.url.endswith(f"/downloads/{days[1].isoformat()}.ndjson") and excinfo.value.line == 2
    assert_nothing_written(team)


def test_malformed_record_names_url_and_line_before_any_statement(github, sync):
    team = make_team(["ada", "grace"])
    days = days_back(3)
    github.set_users(["ada", "grace"], days)
    github.set_day(days[2], [fake_user_day("ada", days[2]), {"user_login": "grace", "day": days[2].isoformat(),
                                                             "code_generation_activity_count": -4}])
    with capture_queries() as capture, pytest.raises(MalformedCopilotRecord) as excinfo:
        sync(team, since=days[0])
    assert f"/downloads/{days[2].isoformat()}.ndjson line 2" in str(excinfo.value)
    assert "code_generation_activity_count" in str(excinfo.value)
    assert capture.count == 0
    assert_nothing_written(team)

    github.set_users(["ada", "grace"], [days[2]])  # fixed upstream: everything is fetched and stored
    github.reset_log()
    result = sync(team, since=days[0])
    assert result.rows_written == 6 and result.not_modified == 0


def test_the_token_comes_decrypted_from_the_integration(github, sync):
    team = make_team(["ada"])
    github.set_users(["ada"], days_back(1))
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM integrations_githubintegration WHERE team_id = %s", [team.id])
        assert cursor.fetchone()[0].startswith("fernet:")  # encrypted at rest
    team = type(team).objects.select_related("github_integration").get(pk=team.pk)
    sync(team)
    assert {r.headers["authorization"] for r in github.requests} == {f"Bearer {TOKEN}"}


def test_a_given_client_is_used_and_left_open(github, sync):
    team = make_team(["ada"])
    github.set_users(["ada"], days_back(2))
    with GitHubClient(TOKEN) as client:
        result = sync(team, client=client, since=days_back(2)[0])
        assert client.requests == result.requests == 4
        assert sync(team, client=client).requests == 2  # still open: the last synced day again
