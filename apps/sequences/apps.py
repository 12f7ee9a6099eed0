from django.apps import AppConfig


class SequencesConfig(AppConfig):
    name = "apps.sequences"
    verbose_name = "Sequences and prospects"

    def ready(self):
        from apps.core.extensions import nav_item, panel

        from .previews import default_bcc_preview_panel

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
        # The team settings page's preview of a new default BCC (teams sits below sequences).
        panel("team.default_bcc.preview")(default_bcc_preview_panel)
