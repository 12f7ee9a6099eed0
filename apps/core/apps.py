from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    verbose_name = "Platform"

    def ready(self):
        from . import checks  # noqa: F401  (registers the deploy checks)
        from .extensions import nav_item

        nav_item(
            section="main",
            label="Support console",
            url_name="admin:index",
            audience="staff",
            order=90,
        )
