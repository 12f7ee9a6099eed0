"""Who wrote it: a recruiter not mapped to a Greenhouse user has their notes authored by the
acting user in Greenhouse. The note's body then names them, the mapping is refreshed by email on
connect and every day, and the team admin's and the recruiter's pages warn until it is fixed.

The sandbox is a real Harvest v3 server over HTTP.
"""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone

from apps.greenhouse.connection import (
    greenhouse_user_mappings_refresh,
    greenhouse_user_mappings_refresh_due,
    greenhouse_user_mappings_refresh_on_connect,
)
from apps.greenhouse.models import GreenhouseIntegration, GreenhouseUserMapping
from apps.greenhouse.notes import email_note, reference_line, sender_line, sms_note
from apps.greenhouse.selectors import greenhouse_user_id_for
from apps.greenhouse.tasks import greenhouse_user_mappings_refresh_task
from apps.messaging.models import Channel, Message, Thread
from apps.messaging.outbound import sms_send
from config.celery import app as celery_app
from tests.fixtures.messaging import deliver_queued
from tests.greenhouse.factories import GreenhouseIntegrationFactory
from tests.greenhouse.sync_helpers import (
    email_reply,
    enroll_and_dispatch_all_steps,
    our_notes,
    write_all,
)
from tests.teams.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db
GRACE = "grace.hopper@example.com"
ROB_ELSEWHERE = "robert@acme.example"  # an address Greenhouse has no user for


def unmap_rob(world):
    """Rob's address in Outreach is one Greenhouse does not know: the lookup finds nobody."""
    world.rob.email = ROB_ELSEWHERE
    world.rob.save(update_fields=["email"])
    greenhouse_user_mappings_refresh(integration=world.integration)
    assert greenhouse_user_id_for(integration=world.integration, user=world.rob) is None


# --- The note's body --------------------------------------------------------------------------


def test_the_sender_line_names_the_recruiter_and_says_why():
    line = sender_line(name="Rob Recruiter", email="rob@acme.example", direction="outbound")
    assert line.startswith("Sent by Rob Recruiter <rob@acme.example> in Outreach.")
    assert "not mapped to a Greenhouse user" in line
    assert sender_line(name="Rob Recruiter", email="", direction="inbound").startswith(
        "Received by Rob Recruiter in Outreach."
    )


def test_an_email_note_opens_with_the_sender_line_only_when_given():
    common = dict(
        subject="Hello",
        from_address="Rob <rob@acme.example>",
        to=[GRACE],
        cc=[],
        body_text="Hi Grace",
        body_html="",
        reference="OR-1-abc",
    )
    line = sender_line(name="Rob Recruiter", email="rob@acme.example", direction="outbound")

    named = email_note(**common, sender=line)
    plain = email_note(**common)

    assert named.body == f"{line}\n\nHi Grace\n\n{reference_line('OR-1-abc')}"
    assert plain.body == f"Hi Grace\n\n{reference_line('OR-1-abc')}"
    assert named.email_from == plain.email_from == ["rob@acme.example"]


def test_an_sms_note_opens_with_the_sender_line_when_given():
    line = sender_line(name="Rob Recruiter", email="rob@acme.example", direction="inbound")
    note = sms_note(
        from_number="+1415", to_number="+1500", direction="inbound", text="Hi", reference="OR-2-x"
    )
    named = sms_note(
        from_number="+1415",
        to_number="+1500",
        direction="inbound",
        text="Hi",
        reference="OR-2-x",
        sender=line,
    )
    assert named.body == f"{line}\n\n{note.body}"


# --- Writing: the author falls back to the acting user --------------------------------------------


def test_an_unmapped_recruiters_notes_name_them_in_the_body(synced, harvest_sandbox):
    unmap_rob(synced)
    enroll_and_dispatch_all_steps(synced, [synced.grace])
    deliver_queued()
    thread = Thread.objects.get(prospect=synced.grace, channel=Channel.EMAIL)
    email_reply(thread, text="Tell me more.")
    sms_send(sender=synced.rob, prospect=synced.grace, body="Texting too.")
    deliver_queued()

    assert write_all().count("written") == 5

    acting = synced.integration.acting_user_id
    assert acting == harvest_sandbox.user_id("ada@acme.example")
    notes = sorted(our_notes(harvest_sandbox, GRACE), key=lambda n: n["id"])
    assert len(notes) == 5
    assert {n["user_id"] for n in notes} == {acting}  # Greenhouse shows Ada as author...
    by_note = {
        m.sync_record.note_id: m for m in Message.objects.filter(thread__prospect=synced.grace)
    }
    for note in notes:  # ...and the body says whose note it really is
        message = by_note[note["id"]]
        verb = "Sent by" if message.direction == Message.Direction.OUTBOUND else "Received by"
        assert note["body"].startswith(f"{verb} Rob Recruiter <{ROB_ELSEWHERE}> in Outreach.")
        assert message.body_text in note["body"]
        assert message.sync_record.note_ref in note["body"]


def test_a_mapped_recruiters_notes_carry_no_sender_line(synced, harvest_sandbox):
    enroll_and_dispatch_all_steps(synced, [synced.grace])
    deliver_queued()
    write_all()

    notes = our_notes(harvest_sandbox, GRACE)
    assert len(notes) == 3
    assert {n["user_id"] for n in notes} == {harvest_sandbox.user_id("rob@acme.example")}
    assert not any("in Outreach. They are not mapped" in n["body"] for n in notes)


# --- Refreshed on connect -----------------------------------------------------------------------


def test_saving_the_connection_looks_the_team_up_by_email(
    client, team, harvest_sandbox_fast, admin_user_id, settings
):
    settings.GREENHOUSE_DEFAULT_HOST = "sandbox"
    ada = team.memberships.get(user__username="ada").user
    client.force_login(ada)
    client.post(
        reverse("greenhouse:connection"),
        {
            "client_id": harvest_sandbox_fast.client_id,
            "client_secret": harvest_sandbox_fast.client_secret,
            "acting_user_id": admin_user_id,
        },
    )
    integration = GreenhouseIntegration.objects.get(team=team)
    mapped = {
        m.user.username: m.greenhouse_user_id
        for m in GreenhouseUserMapping.objects.filter(integration=integration)
    }
    assert mapped == {
        "ada": harvest_sandbox_fast.user_id("ada@acme.example"),
        "rob": harvest_sandbox_fast.user_id("rob@acme.example"),
    }


def test_testing_the_connection_maps_a_member_greenhouse_now_knows(
    client, integration, team, harvest_sandbox_fast
):
    greenhouse_user_mappings_refresh(integration=integration)
    nina = UserFactory(
        username="nina", first_name="Nina", last_name="New", email="nina@acme.example"
    )
    MembershipFactory(team=team, user=nina)
    added = harvest_sandbox_fast.add_user(first_name="Nina", primary_email="nina@acme.example")

    client.force_login(team.memberships.get(user__username="ada").user)
    response = client.post(reverse("greenhouse:connection-test"), follow=True)

    assert greenhouse_user_id_for(integration=integration, user=nina) == added["id"]
    assert "Looked up by email: 3 of 3 team members mapped." in response.content.decode()


def test_a_failed_lookup_on_connect_is_explained_and_raises_nothing(integration, harvest_sandbox):
    harvest_sandbox.set_faults(down=True)

    lookup = greenhouse_user_mappings_refresh_on_connect(integration=integration)

    assert not lookup.ok
    assert lookup.message.startswith("Team members could not be looked up in Greenhouse:")
    assert "Look up by email" in lookup.message
    assert harvest_sandbox.client_secret not in lookup.message


# --- Refreshed every day (beat) ------------------------------------------------------------------


def test_beat_runs_the_refresh_and_the_task_is_registered():
    entry = django_settings.CELERY_BEAT_SCHEDULE["greenhouse-user-mappings-refresh"]
    assert entry["task"] == "apps.greenhouse.tasks.greenhouse_user_mappings_refresh_task"
    assert entry["task"] in celery_app.tasks
    # Frequent checks, so each team is looked up as soon as its lookups are a day old.
    assert entry["schedule"] <= django_settings.GREENHOUSE_USER_MAPPING_MAX_AGE
    assert django_settings.GREENHOUSE_USER_MAPPING_MAX_AGE == 86400


def test_the_daily_refresh_maps_who_greenhouse_knows_now(synced, harvest_sandbox, settings):
    unmap_rob(synced)
    added = harvest_sandbox.add_user(first_name="Rob", primary_email=ROB_ELSEWHERE)

    # Looked up a moment ago: not due yet, Greenhouse is not asked.
    before = len(harvest_sandbox.requests(path="/v3/users"))
    assert greenhouse_user_mappings_refresh_due() == 0
    assert len(harvest_sandbox.requests(path="/v3/users")) == before

    # A day later it is.
    later = timezone.now() + timedelta(seconds=settings.GREENHOUSE_USER_MAPPING_MAX_AGE + 1)
    assert greenhouse_user_mappings_refresh_due(now=later) == 1
    assert greenhouse_user_id_for(integration=synced.integration, user=synced.rob) == added["id"]


def test_a_new_member_is_looked_up_at_the_next_run(integration, team, harvest_sandbox):
    greenhouse_user_mappings_refresh(integration=integration)
    nina = UserFactory(username="nina", email="nina@acme.example")
    MembershipFactory(team=team, user=nina)
    harvest_sandbox.add_user(first_name="Nina", primary_email="nina@acme.example")

    assert greenhouse_user_mappings_refresh_task.apply().get() == 1

    assert greenhouse_user_id_for(integration=integration, user=nina) is not None


def test_the_daily_refresh_keeps_an_admins_choice_and_skips_broken_connections(
    integration, team, harvest_sandbox
):
    rob = team.memberships.get(user__username="rob").user
    GreenhouseUserMapping.objects.create(
        integration=integration,
        user=rob,
        greenhouse_user_id=4242,
        source=GreenhouseUserMapping.Source.ADMIN,
    )
    broken_team = TeamFactory()
    MembershipFactory(team=broken_team, user=UserFactory(email="x@broken.example"))
    GreenhouseIntegrationFactory(
        team=broken_team,
        client_id=harvest_sandbox.client_id,
        client_secret=harvest_sandbox.client_secret,
        host="sandbox",
        health=GreenhouseIntegration.Health.NEEDS_ATTENTION,
    )

    assert greenhouse_user_mappings_refresh_due() == 1  # Ada's team only

    assert greenhouse_user_id_for(integration=integration, user=rob) == 4242
    ada = team.memberships.get(user__username="ada").user
    assert greenhouse_user_id_for(integration=integration, user=ada) is not None
    assert not GreenhouseUserMapping.objects.filter(integration__team=broken_team).exists()


def test_one_teams_failure_does_not_stop_the_others(integration, team, harvest_sandbox, caplog):
    other = TeamFactory()
    MembershipFactory(team=other, user=UserFactory(email="rob@acme.example"))
    GreenhouseIntegrationFactory(
        team=other, client_id="not-a-known-client", client_secret="wrong-secret", host="sandbox"
    )

    assert greenhouse_user_mappings_refresh_due() == 1

    assert GreenhouseUserMapping.objects.filter(integration=integration).count() == 2
    assert "Greenhouse user lookup failed" in caplog.text
    assert "wrong-secret" not in caplog.text


# --- Warnings until the recruiter is mapped -------------------------------------------------------

ADMIN_PAGES = ["greenhouse:connection", "greenhouse:settings", "greenhouse:users", "greenhouse:log"]


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_every_greenhouse_tab_of_the_team_admin_warns_of_unmapped_members(
    client, synced, harvest_sandbox, page
):
    client.force_login(synced.ada)
    assert "data-unmapped" not in client.get(reverse(page)).content.decode()

    unmap_rob(synced)
    html = client.get(reverse(page)).content.decode()

    assert "data-unmapped" in html
    assert "Rob Recruiter" in html and "No Greenhouse user has the primary email" in html
    assert f"the acting user (Greenhouse user {synced.integration.acting_user_id})" in html
    assert reverse("greenhouse:users") in html


def test_the_recruiters_candidate_page_warns_while_they_are_unmapped(
    client, synced, harvest_sandbox
):
    prospect_url = reverse("greenhouse:prospect-sync", args=[synced.grace.pk])
    detail_url = reverse("sequences:prospect-detail", args=[synced.grace.pk])
    client.force_login(synced.rob)
    assert "data-unmapped" not in client.get(prospect_url).content.decode()

    unmap_rob(synced)
    page = client.get(prospect_url).content.decode()
    detail = client.get(detail_url).content.decode()

    assert "data-unmapped" in page and "Rob Recruiter (you)" in page
    assert "Ask a team admin to map" in page  # a recruiter cannot open the mapping tab
    assert "data-unmapped" in detail and "Rob Recruiter (you)" in detail
    # Another recruiter's candidate does not warn about Rob.
    ada_prospect = synced.alan
    ada_prospect.owner = synced.ada
    ada_prospect.save(update_fields=["owner"])
    other = client.get(reverse("greenhouse:prospect-sync", args=[ada_prospect.pk]))
    assert "data-unmapped" not in other.content.decode()
