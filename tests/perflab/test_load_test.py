"""load_test --quick end to end: gunicorn in production mode on loopback, driven, stopped; the JSON's figures."""

import json
import os

import pytest
from django.core.management import call_command
from django.db import connection

from apps.perflab.load import ENDPOINT_NAMES, Level, LoadReport, format_table, percentiles_ms, port_is_free
from apps.perflab.report import render_index

DATABASE = f"tformance_load_test_{os.getpid()}"


@pytest.fixture
def restored_connection_and_cache(settings, django_db_blocker):
    """The command points the ORM and the cache prefix at its own database; this test run's are put back after."""
    from django.core.cache import cache

    test_settings = dict(connection.settings_dict.get("TEST", {}))
    prefix = cache.key_prefix
    with django_db_blocker.unblock():
        yield
    connection.settings_dict["TEST"] = test_settings
    settings.CACHES["default"]["KEY_PREFIX"] = prefix
    cache.key_prefix = prefix


def test_quick_load_run_serves_drives_and_stops_gunicorn(tmp_path, restored_connection_and_cache):
    output = tmp_path / "load.json"
    call_command("load_test", "--quick", "--database", DATABASE, "--output", str(output))

    report = json.loads(output.read_text())
    assert report["mode"] == "normal" and report["scale"] == "quick"
    assert [(level["endpoint"], level["clients"]) for level in report["levels"]] == [
        (name, clients) for clients in (1, 2) for name in ENDPOINT_NAMES
    ]
    for level in report["levels"]:
        assert level["requests"] > 0 and level["errors"] == 0, level
        assert level["p50_ms"] <= level["p95_ms"] <= level["p99_ms"]
        assert level["requests_per_second"] > 0
        assert level["pg_samples"] > 0 and 0 < level["max_pg_connections"] <= report["connection_budget"]
    assert report["connection_budget"] == report["workers"] * report["pool_max"]
    assert report["max_pg_connections"] == max(level["max_pg_connections"] for level in report["levels"])
    assert report["holds"] is True and {b["name"] for b in report["budgets"]} >= {"errors, every level"}
    assert report["server_stopped"] is True and port_is_free(report["port"])
    with connection.cursor() as cursor:  # dropped afterwards
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [DATABASE])
        assert cursor.fetchone()[0] == 0
    assert format_table(report).splitlines()[0].split()[:2] == ["endpoint", "clients"]


def test_percentiles_interpolate_like_statistics_inclusive():
    assert percentiles_ms([]) == (None, None, None)
    assert percentiles_ms([0.5]) == (500.0, 500.0, 500.0)
    p50, p95, p99 = percentiles_ms([i / 1000 for i in range(1, 101)])  # 1..100 ms
    assert (round(p50, 2), round(p95, 2), round(p99, 2)) == (50.5, 95.05, 99.01)


def _stored_report(**changes):
    level = {
        "endpoint": "dashboard", "path": "/t/x/", "clients": 16, "requests": 900, "errors": 0, "seconds": 10.0,
        "requests_per_second": 90.0, "p50_ms": 40.0, "p95_ms": 200.0, "p99_ms": 1200.0, "max_pg_connections": 9,
        "pg_samples": 100, "error_samples": [],
    }  # fmt: skip
    report = LoadReport(
        mode="normal", scale="full", workers=2, threads=4, pool_max=8, connection_budget=16,
        levels=[Level(**level)], dataset={"members": 200, "rows": {}}, seconds=130.0,
    )  # fmt: skip
    for name, value in changes.items():
        setattr(report, name, value)
    report.check_budgets()
    return report


def test_a_slow_warm_dashboard_misses_its_budget_and_the_report_page_shows_it(tmp_path):
    report = _stored_report()
    assert not report.holds
    assert [b.name for b in report.budgets if not b.holds] == ["warm dashboard p99 at 16 clients"]
    assert not _stored_report(scale="quick").budgets[1].gated  # a quick run's timing is reported only
    assert _stored_report(mode="redis-hung").holds  # with Redis hung nothing gates

    report.write_json(tmp_path / "load.json")
    page = render_index([], None, {"Load test": json.loads((tmp_path / "load.json").read_text())})
    assert "<h2>Load test</h2>" in page and "1,200.0" in page and "<b>MISSED</b>" in page
    assert "the most PostgreSQL connections seen: <b>9</b>" in page
