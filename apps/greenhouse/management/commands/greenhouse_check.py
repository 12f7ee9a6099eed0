"""`manage.py greenhouse_check <team>`: what support staff run first when a team says its notes
are missing. The team is named by its slug (shown on the team's Greenhouse page and in the
admin) or id; a wrong name lists the teams that have connected Greenhouse."""

import difflib

from django.core.management.base import BaseCommand, CommandError

from apps.core.crypto import SecretDecryptionError
from apps.greenhouse.connection import (
    greenhouse_integration_test_connection,
    greenhouse_user_mappings_refresh,
    harvest_client_build,
    harvest_error_in_plain_words,
)
from apps.greenhouse.harvest.errors import HarvestError
from apps.greenhouse.selectors import (
    greenhouse_connected_team_slugs,
    greenhouse_integration_for_team_identifier,
    greenhouse_user_mapping_gaps,
)
from apps.teams.models import Team

LISTED_AT_MOST = 20


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def _valid_teams(wrong: str) -> str:
    slugs = greenhouse_connected_team_slugs()
    if not slugs:
        return "No team has connected Greenhouse yet."
    close = difflib.get_close_matches(wrong, slugs, n=3)
    listed = ", ".join(slugs[:LISTED_AT_MOST])
    more = len(slugs) - LISTED_AT_MOST
    if more > 0:
        listed += f" and {more} more (find them under Greenhouse integrations in the admin)"
    hint = f"Did you mean {' or '.join(close)}? " if close else ""
    return f"{hint}Teams connected to Greenhouse (slug): {listed}."


class Command(BaseCommand):
    help = (
        "For support staff: a team's Greenhouse connection health, token status and team members "
        "without a Greenhouse user. Exits with an error when the connection needs attention."
    )

    def add_arguments(self, parser):
        parser.add_argument("team", help="team slug or id")
        parser.add_argument(
            "--no-test", action="store_true", help="show the stored health; call no Greenhouse API"
        )
        parser.add_argument(
            "--refresh-mappings",
            action="store_true",
            help="look team members up by email in Greenhouse first",
        )

    def handle(self, *args, team, no_test, refresh_mappings, **options):
        integration = greenhouse_integration_for_team_identifier(team)
        if integration is None:
            if not Team.objects.filter(slug=team).exists() and not (
                team.isdigit() and Team.objects.filter(pk=int(team)).exists()
            ):
                raise CommandError(f"No team “{team}”. {_valid_teams(team)}")
            raise CommandError(f"Team “{team}” has not connected Greenhouse. {_valid_teams(team)}")
        out = self.stdout.write
        found_team = integration.team
        out(f"Team:            {found_team} ({found_team.slug}, id {found_team.pk})")
        out(f"Client ID:       {integration.client_id}")
        out(f"Client secret:   {integration.client_secret_summary}")
        out(f"Acting user:     {integration.acting_user_id or 'the credential service user'}")
        out(f"Host:            {integration.host_label} ({integration.host})")

        if not no_test:
            check = greenhouse_integration_test_connection(integration=integration)
            status = self.style.SUCCESS("OK") if check.ok else self.style.ERROR("NEEDS ATTENTION")
            out(f"Connection test: {status}: {check.message}")
        else:
            checked = integration.last_checked_at
            out(
                f"Stored health:   {integration.get_health_display()}"
                + (f", checked {checked:%Y-%m-%d %H:%M %Z}" if checked else "")
                + (f": {integration.last_error}" if integration.last_error else "")
            )

        try:
            token = harvest_client_build(integration=integration).token_status()
            out(
                f"Token:           cached, expires in {_minutes(token.expires_in)}"
                if token.cached
                else "Token:           none cached (the next call mints one)"
            )
        except (HarvestError, SecretDecryptionError) as exc:
            reason = harvest_error_in_plain_words(exc, integration=integration)
            out(f"Token:           unknown: {reason}")

        if refresh_mappings:
            try:
                greenhouse_user_mappings_refresh(integration=integration)
            except (HarvestError, SecretDecryptionError) as exc:
                reason = harvest_error_in_plain_words(exc, integration=integration)
                out(f"User mapping:    could not refresh: {reason}")
        gaps = greenhouse_user_mapping_gaps(integration=integration)
        members = found_team.memberships.count()
        if gaps:
            out(f"User mapping:    {members - len(gaps)} of {members} team members mapped. Gaps:")
            for gap in gaps:
                out(f"  - {gap.user.email or gap.user.get_username()} ({gap.role}): {gap.reason}")
        else:
            out(f"User mapping:    all {members} team members mapped.")

        if integration.health == integration.Health.NEEDS_ATTENTION:
            raise CommandError("The Greenhouse connection needs attention.")
