"""The Celery app. The same worker command runs on the embedded broker and on Redis or RabbitMQ:

celery -A config worker --loglevel=INFO
celery -A config beat --loglevel=INFO     # exactly one beat per deployment
"""

import os

from celery import Celery

from apps.core import worker_db

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("outreach")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Keep each worker's database connection between tasks, under CONN_MAX_AGE and health checks.
worker_db.connect_signals()
