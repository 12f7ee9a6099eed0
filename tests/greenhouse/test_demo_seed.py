"""The demo starts mapped (issue 14 item 4): `seed_demo` maps the demo team's members to the
sandbox's Greenhouse users, exactly as the automatic lookup by email finds them once the sandbox
is up, so the demo's notes are by their recruiter, not all by the acting user."""

import io

import pytest
from django.core.management import call_command

from apps.greenhouse.connection import greenhouse_user_mappings_refresh
from apps.greenhouse.models import GreenhouseIntegration, GreenhouseUserMapping
from apps.harvest_sandbox.services import SANDBOX_HOST
from tests.fixtures.harvest import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(harvest_sandbox, settings):
    settings.GREENHOUSE_SANDBOX_CLIENT_ID = SANDBOX_CLIENT_ID
    settings.GREENHOUSE_SANDBOX_CLIENT_SECRET = SANDBOX_CLIENT_SECRET
    call_command("seed_demo", stdout=io.StringIO())
    return GreenhouseIntegration.objects.get(team__slug="acme")


def mapped(integration):
    return {
        m.user.username: (m.greenhouse_user_id, m.source, m.problem)
        for m in GreenhouseUserMapping.objects.filter(integration=integration)
    }


def test_the_demo_team_starts_mapped_as_the_lookup_by_email_finds_it(seeded, harvest_sandbox):
    assert seeded.host == SANDBOX_HOST
    email = GreenhouseUserMapping.Source.EMAIL
    seeded_mapping = mapped(seeded)
    assert seeded_mapping == {
        "ada": (harvest_sandbox.user_id("ada@acme.example"), email, ""),
        "rob": (harvest_sandbox.user_id("rob@acme.example"), email, ""),
    }
    assert all(m.looked_up_at for m in seeded.user_mappings.all())

    greenhouse_user_mappings_refresh(integration=seeded)  # the real lookup, over HTTP

    assert mapped(seeded) == seeded_mapping


def test_seeding_again_keeps_the_mapping(seeded):
    before = mapped(seeded)
    call_command("seed_demo", stdout=io.StringIO())
    assert mapped(seeded) == before
    assert GreenhouseUserMapping.objects.count() == 2
