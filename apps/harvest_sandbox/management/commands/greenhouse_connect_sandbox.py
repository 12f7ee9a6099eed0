from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from apps.demo import data as demo
from apps.greenhouse.connection import (
    greenhouse_integration_test_connection,
    greenhouse_user_mappings_refresh,
)
from apps.greenhouse.harvest.hosts import host_profile
from apps.harvest_sandbox.services import greenhouse_integration_connect_sandbox
from apps.teams.models import Team


class Command(BaseCommand):
    help = "Development: connect a team (the demo team by default) to the local Harvest sandbox."

    def add_arguments(self, parser):
        parser.add_argument("team", nargs="?", default=demo.DEMO_TEAM["slug"], help="team slug")
        parser.add_argument(
            "--check", action="store_true", help="then test the connection and map users"
        )

    def handle(self, *args, team, check, **options):
        found = Team.objects.filter(slug=team).first()
        if found is None:
            raise CommandError(f"No team with the slug “{team}”.")
        try:
            integration = greenhouse_integration_connect_sandbox(team=found)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        profile = host_profile(integration.host)
        self.stdout.write(f"{found} now uses the Harvest sandbox at {profile.api_base_url}.")
        if check:
            result = greenhouse_integration_test_connection(integration=integration)
            self.stdout.write(result.message)
            if result.ok:
                mappings = greenhouse_user_mappings_refresh(integration=integration)
                mapped = sum(1 for m in mappings if m.greenhouse_user_id)
                self.stdout.write(f"{mapped} of {len(mappings)} team members mapped.")
