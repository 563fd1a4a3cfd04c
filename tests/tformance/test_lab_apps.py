"""The performance lab (apps.perflab) and django-extensions load in development and under pytest, never in
production: a production process does not even import the lab or its pandas/numpy/matplotlib stack."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAB_APPS = {"apps.perflab", "django_extensions"}
LAB_MODULES = ("apps.perflab", "django_extensions", "pandas", "numpy", "matplotlib", "nbformat", "ipykernel")
# Settings, the URL conf and the WSGI application (every middleware instantiated), then what got loaded; the
# names to look for come as argv[1] (JSON).
SHOW = (
    "import json, sys, django; django.setup(); import tformance.urls; from tformance.wsgi import application; "
    "from django.conf import settings as s; names = json.loads(sys.argv[1]); print(json.dumps({"
    "'apps': [a for a in s.INSTALLED_APPS if a in names['apps']], "
    "'nplusone_middleware': any('perflab' in m for m in s.MIDDLEWARE), "
    "'imported': [m for m in names['modules'] if m in sys.modules]}))"
)


def _show(debug: str, *, preamble: str = "") -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_DEBUG"}}
    env.update(
        DJANGO_SETTINGS_MODULE="tformance.settings",
        DJANGO_DEBUG=debug,
        SECRET_KEY="k3y-" + "Zq8#vL2@pW9!rT5&xN1*" * 3,
        # Set, so that neither mode starts an embedded server; nothing here connects to them.
        DATABASE_URL="postgresql://postgres@db.example:5432/tformance",
        REDIS_URL="redis://cache.example:6379/0",
    )
    result = subprocess.run(
        [sys.executable, "-c", preamble + SHOW, json.dumps({"apps": sorted(LAB_APPS), "modules": LAB_MODULES})],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_settings_neither_install_nor_import_the_lab():
    shown = _show("false")
    assert shown == {"apps": [], "nplusone_middleware": False, "imported": []}


def test_development_installs_the_lab_and_its_middleware():
    shown = _show("true")
    assert set(shown["apps"]) == LAB_APPS
    assert shown["nplusone_middleware"] is True
    assert {"apps.perflab", "django_extensions"} <= set(shown["imported"])


def test_under_pytest_the_lab_is_installed_even_with_debug_off():
    # The tests import the lab (its pytest guard, its factories' helpers) whatever DJANGO_DEBUG says; its middleware
    # stays a development-only thing.
    shown = _show("false", preamble="import pytest; ")
    assert set(shown["apps"]) == LAB_APPS
    assert shown["nplusone_middleware"] is False


def test_this_test_run_has_the_lab_installed(settings):
    assert LAB_APPS <= set(settings.INSTALLED_APPS)
