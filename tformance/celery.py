"""Celery: Redis is the broker and the result backend (the same Redis as the cache).

Workers: ``celery -A tformance worker``; the schedule (``CELERY_BEAT_SCHEDULE``) lives in
settings, in one place; ``celery -A tformance beat`` runs it. Tasks take ids, own their
retries, and are enqueued with ``enqueue_on_commit`` so a worker never looks for a row that a
still-open transaction has not committed.
"""

import os

from celery import Celery
from django.db import transaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tformance.settings")

app = Celery("tformance")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def enqueue_on_commit(task, *args, **kwargs) -> None:
    """``task.delay(*args, **kwargs)`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: task.apply_async(args=args, kwargs=kwargs))
