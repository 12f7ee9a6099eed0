from django.apps import AppConfig


class MessagingConfig(AppConfig):
    # django.contrib.messages owns the label "messages", so this app is "messaging".
    name = "apps.messaging"
    label = "messaging"
    verbose_name = "Messages"

    def ready(self):
        from . import checks, signals  # noqa: F401  (connects the Anymail receivers, checks)
