"""Issue 14, item 10: support's enable and disable say what really happens, the team admin's page
tells a disabled team from one never enabled, and every switch leaves one history row, written in
the transaction of the change. Against the Harvest sandbox over HTTP (the enable action tests the
connection first) and the real sync (a message sent after the switch is written, or not)."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.greenhouse import selectors
from apps.greenhouse.models import GreenhouseIntegration, SwitchEvent, SyncRecord
from apps.greenhouse.policy import Reason
from apps.greenhouse.switches import (
    team_maildrop_overlap_set,
    team_note_visibility_set,
    team_sync_disable_by_support,
    team_sync_enable_by_support,
    team_sync_turn_off,
    team_sync_turn_on,
)
from apps.messaging.outbound import sms_send
from tests.fixtures.messaging import deliver_queued
from tests.greenhouse.sync_helpers import write_all

Change = SwitchEvent.Change
CHANGELIST = "admin:greenhouse_greenhouseintegration_changelist"


def _action(staff_client, action: str, integration) -> list[str]:
    response = staff_client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [integration.pk]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(m) for m in response.context["messages"]]


def _sms_record(world) -> SyncRecord:
    sms_send(sender=world.rob, prospect=world.grace, body="Are you free on Thursday?")
    deliver_queued()
    return SyncRecord.objects.order_by("-pk").first()


def _team_admin_page(world) -> str:
    client = Client()
    client.force_login(world.ada)
    response = client.get(reverse("greenhouse:settings"))
    assert response.status_code == 200
    return response.content.decode()


def test_disable_then_enable_with_the_team_switch_on_says_sync_is_on_at_once(synced, staff_client):
    waiting = _sms_record(synced)
    assert waiting.status == SyncRecord.Status.PENDING

    (said,) = _action(staff_client, "disable_sync", synced.integration)
    assert said == (
        "Acme Talent: sync disabled, nothing more is written to Greenhouse; 1 waiting message "
        "skipped. Notes already written stay. The team admin's switch stays on: enabling again "
        "turns sync back on at once."
    )
    waiting.refresh_from_db()
    assert (waiting.status, waiting.reason) == (SyncRecord.Status.SKIPPED, Reason.TEAM_NOT_ENABLED)
    (disabled,) = SwitchEvent.objects.all()
    assert disabled.change == Change.SUPPORT_DISABLED and disabled.by.username == "support"
    assert disabled.effect == "Nothing more written to Greenhouse; 1 waiting message skipped."

    # The team admin reads that support disabled it, and since when: not "Not yet".
    page = _team_admin_page(synced)
    assert "Not yet" not in page
    assert "Disabled</span>" in page and "Support turned sync off for your team" in page
    assert f"since {timezone.localtime(disabled.at):%Y-%m-%d %H:%M}" in page
    assert "Your switch is still on" in page
    home = Client()
    home.force_login(synced.ada)
    panel = home.get(reverse("home")).content.decode()
    assert "Not yet" not in panel and "Disabled</span>" in panel
    assert '<span class="badge ok">On</span>' not in panel  # the team switch alone is not "On"

    before = timezone.now()
    (said,) = _action(staff_client, "enable_sync", synced.integration)
    assert said == (
        "Acme Talent: sync enabled, and on at once: the team admin's switch is on, so new emails "
        "and SMS are written to Greenhouse from now. Messages from while it was disabled are not "
        "written."
    )
    integration = GreenhouseIntegration.objects.get()
    assert integration.sync_enabled_by_support and integration.sync_on
    assert integration.sync_on_since >= before  # "on since" counts from the enable
    enabled = SwitchEvent.objects.first()
    assert enabled.change == Change.SUPPORT_ENABLED
    assert enabled.effect == "Sync on at once (the team admin's switch is on)."

    # True: what is sent now is written, with nothing for anyone to turn on.
    record = _sms_record(synced)
    write_all()
    record.refresh_from_db()
    assert record.status == SyncRecord.Status.WRITTEN and record.note_id
    state = selectors.sync_state(integration)
    assert state.on and state.since == integration.sync_on_since


def test_enable_with_the_team_switch_off_says_it_stays_off(synced, staff_client):
    GreenhouseIntegration.objects.update(sync_enabled_by_support=False, sync_on=False)
    (said,) = _action(staff_client, "enable_sync", synced.integration)
    assert said == (
        "Acme Talent: sync enabled, but still off: a team admin turns it on (Team settings, "
        "Sync). Nothing is written until then."
    )
    record = _sms_record(synced)
    assert (record.status, record.reason) == (SyncRecord.Status.SKIPPED, Reason.SYNC_TURNED_OFF)
    assert list(SwitchEvent.objects.values_list("change", "effect")) == [
        (Change.SUPPORT_ENABLED, "Sync stays off until a team admin turns it on.")
    ]
    # Enabling again changes nothing, says so, and adds no row.
    (said,) = _action(staff_client, "enable_sync", synced.integration)
    assert said == "Acme Talent: sync was already enabled; nothing changed."
    assert SwitchEvent.objects.count() == 1


def test_a_team_never_enabled_still_reads_not_yet(team, integration):
    client = Client()
    client.force_login(team.memberships.get(user__username="ada").user)
    page = client.get(reverse("greenhouse:settings")).content.decode()
    assert "Not yet" in page and "Disabled</span>" not in page


def test_each_switch_change_appends_one_row_and_a_repeat_none(synced):
    team, ada = synced.team, synced.ada
    team_sync_turn_off(team=team, by=ada)
    team_sync_turn_off(team=team, by=ada)  # already off: nothing changed
    team_sync_turn_on(team=team, by=ada)
    team_sync_turn_on(team=team, by=ada)
    team_note_visibility_set(team=team, visibility="private", by=ada)
    team_note_visibility_set(team=team, visibility="private", by=ada)
    team_maildrop_overlap_set(team=team, choice="write_both", by=ada)
    team_sync_disable_by_support(integration=synced.integration, by=None)
    team_sync_disable_by_support(integration=synced.integration, by=None)

    rows = list(SwitchEvent.objects.order_by("at", "id"))
    assert [row.change for row in rows] == [
        Change.SYNC_OFF,
        Change.SYNC_ON,
        Change.VISIBILITY,
        Change.MAILDROP_OVERLAP,
        Change.SUPPORT_DISABLED,
    ]
    assert [row.by_name for row in rows] == ["Ada Admin"] * 4 + [""]
    assert rows[0].effect == "Nothing more written to Greenhouse; no message was waiting."
    assert rows[2].value.startswith("Private")
    assert (
        rows[3].value
        == GreenhouseIntegration(maildrop_overlap="write_both").get_maildrop_overlap_display()
    )
    # The team page lists them newest first, with who and when.
    history = selectors.switch_history(integration=synced.integration, limit=3)
    assert [row.change for row in history] == [
        Change.SUPPORT_DISABLED,
        Change.MAILDROP_OVERLAP,
        Change.VISIBILITY,
    ]
    page = _team_admin_page(synced)
    assert "History of the switches" in page
    assert "Sync turned off" in page and "Ada Admin" in page
    assert f"{timezone.localtime(rows[0].at):%Y-%m-%d %H:%M}" in page


def test_a_switch_whose_history_row_fails_does_not_change(synced, monkeypatch):
    def refuse(**fields):
        raise RuntimeError("the history table refused the row")

    monkeypatch.setattr(SwitchEvent.objects, "create", refuse)
    with pytest.raises(RuntimeError):
        team_sync_turn_off(team=synced.team, by=synced.ada)
    with pytest.raises(RuntimeError):
        team_sync_disable_by_support(integration=synced.integration, by=synced.ada)
    integration = GreenhouseIntegration.objects.get()
    assert integration.sync_on and integration.sync_enabled_by_support
    assert not SwitchEvent.objects.exists()


def test_support_enable_writes_no_row_when_the_connection_test_fails(synced, harvest_sandbox):
    GreenhouseIntegration.objects.update(sync_enabled_by_support=False)
    synced.integration.refresh_from_db()
    harvest_sandbox.revoke_credential(harvest_sandbox.client_id)
    with pytest.raises(Exception, match="connection test failed"):
        team_sync_enable_by_support(integration=synced.integration, by=synced.ada)
    assert not SwitchEvent.objects.exists()


def test_history_rows_are_never_changed_or_deleted(synced):
    team_sync_turn_off(team=synced.team, by=synced.ada)
    row = SwitchEvent.objects.get()
    row.effect = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        row.save()
    with pytest.raises(ValueError, match="append-only"):
        row.delete()
    assert SwitchEvent.objects.get().effect != "rewritten"


def test_support_reads_the_history_in_the_admin(synced, staff_client):
    team_sync_turn_off(team=synced.team, by=synced.ada)
    _action(staff_client, "disable_sync", synced.integration)

    listing = staff_client.get(reverse("admin:greenhouse_switchevent_changelist"))
    assert listing.status_code == 200
    body = listing.content.decode()
    assert "Sync turned off" in body and "Disabled by support" in body and "Ada Admin" in body
    filtered = staff_client.get(
        reverse("admin:greenhouse_switchevent_changelist"), {"change__exact": "sync_off"}
    )
    rows = filtered.content.decode().split("<tbody>")[1].split("</tbody>")[0]
    assert "Sync turned off" in rows and "Disabled by support" not in rows
    # Read-only: no add, no change, no delete.
    row = SwitchEvent.objects.first()
    assert staff_client.get(reverse("admin:greenhouse_switchevent_add")).status_code == 403
    assert (
        staff_client.post(
            reverse("admin:greenhouse_switchevent_delete", args=[row.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    # And inline on the connection's page.
    page = staff_client.get(
        reverse("admin:greenhouse_greenhouseintegration_change", args=[synced.integration.pk])
    ).content.decode()
    assert "Switch history (newest first)" in page and "Disabled by support" in page
    assert f"?integration__team__id__exact={synced.team.pk}" in page
    whole = staff_client.get(
        reverse("admin:greenhouse_switchevent_changelist"),
        {"integration__team__id__exact": synced.team.pk},
    )
    assert whole.status_code == 200 and "Sync turned off" in whole.content.decode()
    assert SwitchEvent.objects.count() == 2
