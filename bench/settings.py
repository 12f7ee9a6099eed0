"""Settings of the webhook benchmark's gunicorn only (DJANGO_SETTINGS_MODULE=bench.settings):
the project's settings with a URLconf that adds one trivial view. Never used in production."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
