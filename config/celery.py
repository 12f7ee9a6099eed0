"""The Celery app. The same worker commands run on the embedded broker, Redis and RabbitMQ.

Tasks go to one queue per kind of work (apps/core/routing.py): `<prefix>-send` for what people
wait for (email, SMS, the step scheduler, inbound processing, bot emails) and `<prefix>-sync`
for everything that calls Greenhouse, so a Greenhouse backlog never delays a send:

celery -A config worker -Q outreach-send --loglevel=INFO     # sending, scheduling
celery -A config worker -Q outreach-sync --loglevel=INFO     # Greenhouse sync
celery -A config beat --loglevel=INFO                        # exactly one beat per deployment

A worker without -Q takes both kinds (settings CELERY_TASK_QUEUES).
"""

import os

from celery import Celery

from apps.core import worker_db
from apps.core.routing import queue_name, task_kind

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("outreach")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Keep each worker's database connection between tasks, under CONN_MAX_AGE and health checks.
worker_db.connect_signals()


def route_task(name, args, kwargs, options, task=None, **kw):
    """settings.CELERY_TASK_ROUTES: every task by its module (apps/core/routing.py). The prefix is
    read at each publish, so a test run that sets `queue_prefix` routes to its own queues."""
    return {"queue": queue_name(app.conf.queue_prefix, task_kind(name))}
