"""`manage.py seed_demo`: the demo team as a new user meets it after `make run`: connected to the
local sandbox, its members mapped to their Greenhouse users, the sync on. Idempotent: a second
run keeps what is there."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.demo import data as demo
from apps.greenhouse.models import GreenhouseIntegration
from apps.greenhouse.switches import team_sync_enable_by_support, team_sync_turn_on
from apps.harvest_sandbox.services import (
    greenhouse_integration_connect_sandbox,
    greenhouse_user_mappings_seed_sandbox,
)
from apps.messaging.models import VirtualPhoneNumber
from apps.sequences.models import Prospect, ProspectEmail, ProspectPhone, Sequence, SequenceStep
from apps.teams.models import Membership, Team


class Command(BaseCommand):
    help = (
        "Load demo data: a team connected to the local Harvest sandbox, an admin, a recruiter, "
        "support staff, a sequence and prospects. For local demos only."
    )

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        team, _ = Team.objects.get_or_create(slug=demo.DEMO_TEAM["slug"], defaults=demo.DEMO_TEAM)
        users = {}
        for username, first, last, email, role in demo.DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"first_name": first, "last_name": last, "email": email},
            )
            if created:
                user.set_password(demo.DEMO_PASSWORD)
                if role == "support":
                    user.is_staff = user.is_superuser = True
                user.save()
            if role != "support":
                Membership.objects.get_or_create(user=user, defaults={"team": team, "role": role})
            users[username] = user
        recruiter = users["rob"]
        VirtualPhoneNumber.objects.get_or_create(
            user=recruiter, defaults={"team": team, "number": demo.RECRUITER_VIRTUAL_NUMBER}
        )
        for first, last, email, phone in demo.DEMO_PROSPECTS:
            if ProspectEmail.objects.filter(team=team, email=email).exists():
                continue
            prospect = Prospect.objects.create(
                team=team, first_name=first, last_name=last, owner=recruiter
            )
            ProspectEmail.objects.create(prospect=prospect, email=email, is_primary=True)
            ProspectPhone.objects.create(prospect=prospect, number=phone)
        spec = demo.DEMO_SEQUENCE
        sequence, created = Sequence.objects.get_or_create(
            team=team, name=spec["name"], defaults={"owner": recruiter, "bcc": team.default_bcc}
        )
        if created:
            for position, (subject, body, delay) in enumerate(spec["steps"], start=1):
                SequenceStep.objects.create(
                    sequence=sequence,
                    position=position,
                    subject_template=subject,
                    body_template=body,
                    delay=delay,
                )
        integration = GreenhouseIntegration.objects.filter(team=team).first()
        if integration is None:
            integration = greenhouse_integration_connect_sandbox(team=team)
        if not integration.user_mappings.exists():
            # Mapped as a real connection is after its automatic lookup by email, so each note
            # is by its recruiter, not all by the acting user.
            greenhouse_user_mappings_seed_sandbox(integration=integration)
        if not integration.sync_enabled_by_support:
            # The sandbox (the demo team's Greenhouse) starts after this command, with a
            # credential known to work, so the connection test support's action runs is skipped.
            team_sync_enable_by_support(
                integration=integration, by=users["support"], test_connection=False
            )
            team_sync_turn_on(team=team, by=users["ada"])
        self.stdout.write(self.style.SUCCESS(f"Demo data ready for team “{team.name}”."))
