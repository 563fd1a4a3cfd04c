"""Celery: the app's configuration (broker, result backend, the beat schedule's tasks).

The tasks themselves are tested beside their apps: tests/integrations/test_tasks.py (retries, fan-outs,
the team sync's chord, real workers) and tests/metrics/test_tasks.py (the weekly aggregation's fan-out).
"""

from django.conf import settings

from tformance.celery import app


def test_broker_and_backend_are_the_configured_redis():
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    assert app.conf.result_backend == settings.CELERY_BROKER_URL
    assert settings.CELERY_BROKER_URL.startswith(("redis://", "redis+socket://"))
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled == {
        "apps.integrations.tasks.sync_all_copilot_metrics",
        "apps.integrations.tasks.sync_all_github_task",
        "apps.integrations.tasks.prune_webhook_deliveries_task",
        "apps.metrics.tasks.aggregate_all_teams_last_week",
    }
    app.loader.import_default_modules()
    assert scheduled <= set(app.tasks)
