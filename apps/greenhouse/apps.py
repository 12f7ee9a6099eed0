from importlib.util import find_spec

from django.apps import AppConfig


class GreenhouseConfig(AppConfig):
    name = "apps.greenhouse"
    verbose_name = "Greenhouse integration"

    def ready(self):
        from apps.messaging.signals import message_recorded

        from . import checks, page_extensions, signals  # noqa: F401 (checks register themselves)
        from .harvest.hosts import host_profiles

        # The hosts the Harvest client may contact: a mistake in them stops every process at
        # start-up (web, workers, commands) rather than at a team's first connection test.
        host_profiles()

        # Links and panels on other apps' pages (they never import this app).
        page_extensions.register_nav()

        # Its figures in every /metrics scrape (core never imports this app).
        from apps.core.metrics import metric_source

        from .metrics import greenhouse_metrics

        metric_source(greenhouse_metrics)

        # Every email or SMS that goes out or comes in gets a sync record (the messaging app
        # sends the signal and never imports this app).
        message_recorded.connect(
            signals.message_recorded_sync, dispatch_uid="greenhouse.message_recorded_sync"
        )

        # A prospect gaining an email address is looked up at once while messages wait for a
        # Greenhouse candidate (issue 15, waiting.py).
        from django.db.models.signals import post_save

        from apps.sequences.models import ProspectEmail

        post_save.connect(
            signals.prospect_email_saved,
            sender=ProspectEmail,
            dispatch_uid="greenhouse.prospect_email_saved",
        )

        # The sequences app sends `enrollment_preflight`; connect only where it exists, so this
        # app works with or without it (an import error inside it still surfaces).
        if find_spec("apps.sequences.signals") is not None:
            from apps.sequences.signals import enrollment_preflight

            enrollment_preflight.connect(
                signals.enrollment_preflight_warnings,
                dispatch_uid="greenhouse.enrollment_preflight_warnings",
            )
