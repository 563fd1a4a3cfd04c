"""Settings: production refuses to start without its secrets; with URLs set nothing embedded starts."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SHOW = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.EMBEDDED_POSTGRES, s.EMBEDDED_REDIS, s.DATABASES['default']['HOST'], s.REDIS_URL)"
)


def _run_settings(**overrides) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_DEBUG"}}
    env.update(DJANGO_SETTINGS_MODULE="tformance.settings", **overrides)
    return subprocess.run(
        [sys.executable, "-c", SHOW], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_without_anything_names_all_three_missing():
    result = _run_settings(DJANGO_DEBUG="false")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "without DATABASE_URL, REDIS_URL, SECRET_KEY" in result.stderr


def test_production_names_only_what_is_missing():
    result = _run_settings(
        DJANGO_DEBUG="false",
        DATABASE_URL="postgresql://postgres@127.0.0.1:5432/x",
        REDIS_URL="redis://127.0.0.1:6379/9",
    )
    assert result.returncode != 0
    assert "without SECRET_KEY:" in result.stderr
    assert "DATABASE_URL" not in result.stderr.split("without", 1)[1].split(":")[0]


def test_with_urls_set_nothing_embedded_starts():
    state = Path(tempfile.mkdtemp(prefix="tf-set-"))
    result = _run_settings(
        DJANGO_DEBUG="false",
        SECRET_KEY="x" * 25 + "abcde" * 5,  # strong enough: 50 characters, 6 distinct
        DATABASE_URL="postgresql://postgres@db.example:5432/tformance",
        REDIS_URL="redis://cache.example:6379/2",
        TFORMANCE_STATE_DIR=str(state),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "db.example", "redis://cache.example:6379/2"]
    assert list(state.iterdir()) == []  # no server state was created
    state.rmdir()


def test_development_defaults_use_the_embedded_servers():
    state = Path(tempfile.mkdtemp(prefix="tf-dev-"))
    try:
        result = _run_settings(TFORMANCE_STATE_DIR=str(state))
        assert result.returncode == 0, result.stderr
        embedded_pg, embedded_redis, host, redis_url = result.stdout.split()
        assert (embedded_pg, embedded_redis) == ("True", "True")
        assert host == str(state / "pg")
        assert redis_url == f"unix://{state / 'redis.sock'}?db=0"
    finally:
        from tformance import embedded

        embedded.stop(state)
        shutil.rmtree(state, ignore_errors=True)


def test_planner_settings_join_the_options_of_the_url():
    show_options = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['OPTIONS']['options'])"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="tformance.settings",
        DATABASE_URL="postgresql://postgres@db.example:5432/t?options=-c%20statement_timeout%3D5000",
        REDIS_URL="redis://cache.example:6379/2",
        DATABASE_RANDOM_PAGE_COST="1.5",
        DATABASE_PARALLEL_WORKERS="1",
    )
    result = subprocess.run([sys.executable, "-c", show_options], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "-c statement_timeout=5000 -c random_page_cost=1.5 -c max_parallel_workers_per_gather=1"
    )


def test_the_connection_plans_with_the_configured_settings(db):
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW random_page_cost")
        assert float(cursor.fetchone()[0]) == settings.DATABASE_RANDOM_PAGE_COST == 1.1
        cursor.execute("SHOW max_parallel_workers_per_gather")
        assert int(cursor.fetchone()[0]) == settings.DATABASE_PARALLEL_WORKERS == 0
