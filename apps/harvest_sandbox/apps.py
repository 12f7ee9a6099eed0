"""The local Harvest v3 sandbox as a development-only app: installed only with DEV_TOOLS (and in
the test suite), and left out of the built wheel, so a production install has no sandbox code on
its import paths. Installing it gives `manage.py harvest_sandbox`, `greenhouse_connect_sandbox`,
the sandbox's activity-feed page template and the Maildrop-forwarding email backend."""

from django.apps import AppConfig


class HarvestSandboxConfig(AppConfig):
    name = "apps.harvest_sandbox"
    verbose_name = "Harvest sandbox (development)"
