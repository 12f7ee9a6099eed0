from importlib.util import find_spec

from django.apps import AppConfig


class GreenhouseConfig(AppConfig):
    name = "apps.greenhouse"
    verbose_name = "Greenhouse integration"

    def ready(self):
        from . import signals

        # The sequences app sends `enrollment_preflight`; connect only where it exists, so this
        # app works with or without it (an import error inside it still surfaces).
        if find_spec("apps.sequences.signals") is not None:
            from apps.sequences.signals import enrollment_preflight

            enrollment_preflight.connect(
                signals.enrollment_preflight_warnings,
                dispatch_uid="greenhouse.enrollment_preflight_warnings",
            )
