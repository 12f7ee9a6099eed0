from django.apps import AppConfig


class GreenhouseConfig(AppConfig):
    name = "apps.greenhouse"
    verbose_name = "Greenhouse integration"
