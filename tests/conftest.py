import contextlib
import os

import pytest
from django.core.cache import cache

# The lab's N+1 guard on every test-client request (apps/perflab/pytest_guard.py); pytester for its own tests.
pytest_plugins = ["pytester", "apps.perflab.pytest_guard"]

RUN_ID = os.getpid()


def pytest_configure(config):
    # Runs side by side (or a dev server on the same Redis) never see each other's cache keys.
    from django.conf import settings

    settings.CACHES["default"]["KEY_PREFIX"] = f"test-{RUN_ID}"
    # Factories hash a password per user: PBKDF2 would dominate the suite's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """A test database per test run (test_tformance_<pid>): runs side by side never collide."""
    from django.conf import settings

    for db in settings.DATABASES.values():
        db.setdefault("TEST", {})["NAME"] = f"test_{db['NAME']}_{RUN_ID}"


@pytest.fixture(autouse=True)
def _clean_cache():
    """Every test starts and ends with no keys of this run in the real Redis cache."""
    cache.delete_pattern("*")
    yield
    cache.delete_pattern("*")


@pytest.fixture
def eager_celery():
    """No worker: tasks, groups and chords run in the process that enqueues them (test_celery's real-worker
    test covers the broker)."""
    from tformance.celery import app

    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = was


@pytest.fixture
def start_github(settings):
    """``start_github(token, organization="acme", **OrgSpec fields)``: the loopback GitHub stand-in serving that
    organisation, running until the test ends; the app's ``GITHUB_API_URL`` points at the last one started."""
    from apps.perflab.github_stub import GitHubStub

    with contextlib.ExitStack() as running:

        def start(token, organization="acme", **spec):
            stub = running.enter_context(GitHubStub.with_organization(organization, token, **spec))
            settings.GITHUB_API_URL = stub.base_url
            return stub

        yield start
