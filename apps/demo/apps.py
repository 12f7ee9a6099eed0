"""Demo data as a development-only app (DEV_TOOLS): `manage.py seed_demo` and the names the
Harvest sandbox shares with it. Not in the built wheel; no product app imports it."""

from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "apps.demo"
    verbose_name = "Demo data (development)"
