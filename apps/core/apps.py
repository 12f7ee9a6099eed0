from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    verbose_name = "Platform"

    def ready(self):
        from . import checks  # noqa: F401  (registers the deploy checks)
