"""The N+1 guard (apps/perflab/pytest_guard.py): every test-client request runs under the lab's capture.

The four patterns the common tools miss each fail with their shape and the loop's call site; a clean view passes;
``@pytest.mark.allow_repeats("reason")`` lets a repeating test pass. The ``.get()`` loop is also run end to end in
an inner pytest session (pytester), as a view test that fails.
"""

from pathlib import Path

import pytest

from apps.metrics.factories import PullRequestFactory, TeamMemberFactory
from apps.perflab.capture import QueryCapture, compact_shape, is_savepoint_statement, repeated_in_request
from apps.teams.factories import TeamFactory
from tests.perflab import nplusone_views

ROOT = Path(__file__).resolve().parents[2]
VIEWS = Path(nplusone_views.__file__)
pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.perflab.nplusone_views")]


def _line(tag: str) -> str:
    """``nplusone_views.py:<line>``: where the view's ``# repeats: <tag>`` comment is."""
    for number, text in enumerate(VIEWS.read_text().splitlines(), 1):
        if f"# repeats: {tag}" in text:
            return f"{VIEWS.name}:{number}"
    raise LookupError(tag)


@pytest.fixture
def team():
    team = TeamFactory()
    for member in TeamMemberFactory.create_batch(4, team=team):
        PullRequestFactory.create_batch(2, team=team, author=member)
    return team


def _failure(guard, client, url, **kwargs):
    method = kwargs.pop("method", "get")
    getattr(client, method)(url, **kwargs)
    records = guard.take()
    assert len(records) == 1, records
    return records[0]


def test_a_get_in_a_loop_fails_with_its_shape_and_call_site(client, team, nplusone_guard):
    request = _failure(nplusone_guard, client, f"/get-loop/?team={team.pk}")
    (group,) = request.repeated
    assert group.count == 4
    assert group.fingerprint.startswith('SELECT "metrics_teammember"."id"')
    assert 'WHERE "metrics_teammember"."id" = ? LIMIT ?' in group.fingerprint
    assert group.call_site.startswith(f"{_line('get')} in ")
    text = request.describe()
    assert text.startswith(f"GET /get-loop/?team={team.pk}: 1 repeated statement shape(s) in 5 statements")
    assert f"4 at {_line('get')}" in text


def test_a_lazy_foreign_key_per_row_fails(client, team, nplusone_guard):
    (group,) = _failure(nplusone_guard, client, f"/lazy-fk/?team={team.pk}").repeated
    assert group.count == 8 and 'FROM "metrics_teammember"' in group.fingerprint
    assert group.call_site.startswith(_line("lazy"))


def test_a_per_object_prefetch_related_fails(client, team, nplusone_guard):
    (group,) = _failure(nplusone_guard, client, f"/prefetch/?team={team.pk}").repeated
    assert group.count == 4 and 'FROM "metrics_pullrequest"' in group.fingerprint
    assert '"metrics_pullrequest"."author_id" IN (...)' in group.fingerprint
    assert group.call_site.startswith(_line("prefetch"))


def test_a_per_row_update_or_create_fails_savepoints_left_out(client, team, nplusone_guard):
    request = _failure(nplusone_guard, client, f"/upsert/?team={team.pk}", method="post")
    shapes = {group.fingerprint.split()[0]: group for group in request.repeated}
    assert set(shapes) == {"SELECT", "INSERT"}  # the SELECT ... FOR UPDATE and the INSERT, not SAVEPOINT/RELEASE
    assert shapes["SELECT"].count == shapes["INSERT"].count == 4
    assert "FOR UPDATE" in shapes["SELECT"].fingerprint
    assert all(group.call_site.startswith(_line("upsert")) for group in request.repeated)


def test_a_clean_view_passes(client, team, nplusone_guard):
    response = client.get(f"/clean/?team={team.pk}")
    assert response.status_code == 200
    assert nplusone_guard.take() == [] and nplusone_guard.requests == 1


def test_requests_are_judged_one_at_a_time(client, team, nplusone_guard):
    for _ in range(3):  # the same single statement in three requests is no repeat
        client.get(f"/clean/?team={team.pk}")
    assert nplusone_guard.take() == [] and nplusone_guard.requests == 3


@pytest.mark.allow_repeats("a test of the marker itself: this view repeats on purpose")
def test_the_marker_lets_a_repeating_test_pass(client, team, nplusone_guard):
    client.get(f"/get-loop/?team={team.pk}")
    assert len(nplusone_guard.records) == 1  # seen, and still not a failure (records left in place on purpose)


def test_savepoints_and_session_statements_are_left_out():
    capture = QueryCapture()
    for sql in ('SAVEPOINT "s1_x1"', 'RELEASE SAVEPOINT "s1_x1"', 'ROLLBACK TO SAVEPOINT "s1_x2"'):
        assert is_savepoint_statement(sql)
    assert not is_savepoint_statement('SELECT "savepoint" FROM t')
    capture(lambda *args: None, 'SAVEPOINT "s1_x1"', None, False, None)
    capture(lambda *args: None, 'SAVEPOINT "s1_x2"', None, False, None)
    capture(lambda *args: None, 'SELECT 1 FROM "django_session" WHERE session_key = %s', ["a"], False, None)
    capture(lambda *args: None, 'SELECT 1 FROM "django_session" WHERE session_key = %s', ["b"], False, None)
    assert capture.count == 4 and len(capture.repeated()) == 2
    assert capture.without_savepoints().count == 2
    assert repeated_in_request(capture) == []


def test_a_long_column_list_is_compacted():
    shape = "SELECT " + ", ".join(f'"t"."c{i}"' for i in range(60)) + ' FROM "t" WHERE "t"."id" = ?'
    assert compact_shape(shape) == 'SELECT "t"."c0", … FROM "t" WHERE "t"."id" = ?'


INNER_TEST = """
import pytest

from apps.metrics.factories import TeamMemberFactory
from apps.teams.factories import TeamFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.perflab.nplusone_views")]


def test_view_with_a_get_loop(client):
    team = TeamFactory()
    TeamMemberFactory.create_batch(3, team=team)
    assert client.get(f"/get-loop/?team={team.pk}").status_code == 200


def test_clean_view(client):
    team = TeamFactory()
    TeamMemberFactory.create_batch(3, team=team)
    assert client.get(f"/clean/?team={team.pk}").status_code == 200


@pytest.mark.allow_repeats("the loop is the point of this test")
def test_marked_view(client):
    team = TeamFactory()
    TeamMemberFactory.create_batch(3, team=team)
    assert client.get(f"/get-loop/?team={team.pk}").status_code == 200


@pytest.mark.allow_repeats
def test_marker_without_a_reason(client):
    pass
"""

INNER_CONFTEST = """
import os

import pytest


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    from django.conf import settings

    for db in settings.DATABASES.values():
        db.setdefault("TEST", {})["NAME"] = f"test_{db['NAME']}_guard_{os.getpid()}"
"""


def test_a_view_test_with_a_get_loop_fails_in_a_real_pytest_run(pytester, monkeypatch):
    """The issue's "done when": a view test that introduces a ``.get()`` loop fails with the shape and call site."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "tformance.settings")
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(test_inner=INNER_TEST)
    result = pytester.runpytest_subprocess(
        "-p", "pytest_django", "-p", "apps.perflab.pytest_guard", "--nomigrations", "-p", "no:cacheprovider",
        "--strict-markers", "-rA",
    )  # fmt: skip
    result.assert_outcomes(passed=2, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_marker_without_a_reason*",
            '@pytest.mark.allow_repeats needs a reason: @pytest.mark.allow_repeats("why it repeats")',
            "*_ test_view_with_a_get_loop _*",
            "N+1: a statement shape ran more than once within one request *",
            "GET /get-loop/?team=*: 1 repeated statement shape(s) in 4 statements",
            '  x3  SELECT "metrics_teammember"."id", … FROM "metrics_teammember" WHERE "metrics_teammember"."id" = ? *',
            f"        3 at {_line('get')} in *",
            'A test that repeats on purpose says why: @pytest.mark.allow_repeats("reason")',
            "PASSED test_inner.py::test_clean_view",
            "PASSED test_inner.py::test_marked_view",
            "ERROR test_inner.py::test_marker_without_a_reason*",
            "FAILED test_inner.py::test_view_with_a_get_loop*",
        ]
    )


# --- the development middleware (DEBUG only: pytest runs with DEBUG off, so it is built here by hand) -------------


def _through_middleware(view, rf, team):
    from apps.perflab.middleware import NPlusOneMiddleware
    from tformance.middleware import ServerTimingMiddleware

    chain = NPlusOneMiddleware(ServerTimingMiddleware(view))
    return chain(rf.get("/page/", {"team": team.pk}))


def test_the_middleware_extends_server_timing_and_logs_each_shape(rf, team, settings, caplog):
    settings.DEBUG, settings.NPLUSONE_CHECKS = True, True
    with caplog.at_level("WARNING", logger="tformance.nplusone"):
        response = _through_middleware(nplusone_views.get_loop, rf, team)
    header = response["Server-Timing"]
    assert header.startswith("db;dur=") and ", total;dur=" in header  # ServerTimingMiddleware's, extended
    assert header.endswith(', n1;desc="1 repeated shapes (worst x4)"')
    (record,) = caplog.records
    message = record.getMessage()
    assert message.startswith('N+1 in GET /page/: x4 SELECT "metrics_teammember"."id", … FROM "metrics_teammember"')
    assert f"(4 at {_line('get')} in " in message


def test_the_middleware_says_so_when_nothing_repeats(rf, team, settings, caplog):
    settings.DEBUG, settings.NPLUSONE_CHECKS = True, True
    with caplog.at_level("WARNING", logger="tformance.nplusone"):
        response = _through_middleware(nplusone_views.clean, rf, team)
    assert response["Server-Timing"].endswith(', n1;desc="0 repeated shapes"')
    assert caplog.records == []


def test_the_middleware_does_nothing_without_debug(rf, team, caplog):
    with caplog.at_level("WARNING", logger="tformance.nplusone"):
        response = _through_middleware(nplusone_views.get_loop, rf, team)
    assert "n1;" not in response["Server-Timing"] and caplog.records == []


def test_the_middleware_is_off_while_the_lab_measures(rf, team, settings, caplog):
    """perf_bench and the notebooks set NPLUSONE_CHECKS off: pages timed as production serves them."""
    settings.DEBUG, settings.NPLUSONE_CHECKS = True, False
    with caplog.at_level("WARNING", logger="tformance.nplusone"):
        response = _through_middleware(nplusone_views.get_loop, rf, team)
    assert "n1;" not in response["Server-Timing"] and caplog.records == []


def test_the_middleware_is_installed_only_in_development():
    from django.conf import settings

    source = (ROOT / "tformance" / "settings.py").read_text()
    assert 'MIDDLEWARE.insert(0, "apps.perflab.middleware.NPlusOneMiddleware")' in source
    assert 'if DEBUG and "apps.perflab" in INSTALLED_APPS:' in source
    assert settings.MIDDLEWARE.index("tformance.middleware.ServerTimingMiddleware") <= 1


# --- exact counts, savepoints left out (apps/perflab/testing.py) ------------------------------------------------


def test_assert_num_queries_counts_exactly_without_savepoints(team):
    from django.db import transaction

    from apps.metrics.models import TeamMember
    from apps.perflab.testing import QueryCountDiffers, assert_num_queries

    with assert_num_queries(1) as capture, transaction.atomic():  # a savepoint inside the test's transaction
        list(TeamMember.objects.filter(team=team))
    assert capture.count == 3 and capture.without_savepoints().count == 1
    with pytest.raises(QueryCountDiffers) as failure, assert_num_queries(2):
        list(TeamMember.objects.filter(team=team))
    assert "expected exactly 2 statements (SAVEPOINT/RELEASE left out), got 1" in str(failure.value)
