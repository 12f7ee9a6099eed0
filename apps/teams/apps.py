from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "apps.teams"
    verbose_name = "Teams"

    def ready(self):
        from apps.core.extensions import membership_lookup, nav_item

        from .access import membership_for

        membership_lookup(membership_for)

        nav_item(
            section="main",
            label="Team settings",
            url_name="teams:settings",
            audience="admin",
            order=40,
            prefix="/team/",
        )
        nav_item(
            section="settings",
            label="Default BCC",
            url_name="teams:settings",
            audience="admin",
            order=10,
        )
