from django.apps import AppConfig


class SequencesConfig(AppConfig):
    name = "apps.sequences"
    verbose_name = "Sequences and prospects"

    def ready(self):
        from apps.core.extensions import nav_item

        nav_item(
            section="main",
            label="Sequences",
            url_name="sequences:sequence-list",
            audience="member",
            order=10,
        )
        nav_item(
            section="main",
            label="Prospects",
            url_name="sequences:prospect-list",
            audience="member",
            order=20,
        )
