from django.apps import AppConfig


class MessagingConfig(AppConfig):
    # django.contrib.messages owns the label "messages", so this app is "messaging".
    name = "apps.messaging"
    label = "messaging"
    verbose_name = "Messages"

    def ready(self):
        from apps.core.extensions import nav_item

        from . import checks, page_extensions, receivers  # noqa: F401  (registers receivers, panels, checks)

        nav_item(
            section="main",
            label="Conversations",
            url_name="messaging:thread-list",
            audience="member",
            order=30,
        )
        nav_item(
            section="main",
            label="Dev outbox",
            url_name="messaging:dev-outbox",
            audience="dev",
            order=80,
        )
        nav_item(
            section="main",
            label="Simulate inbound",
            url_name="messaging:dev-simulate",
            audience="dev",
            order=81,
        )
