"""The team's choice for recipients not in Greenhouse, and the waiting window (issue 15 item 3):
on the sync settings page, admin-only, POST with CSRF, validated, recorded in the switch
history, shown to support in the Django admin."""

from html import unescape

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from apps.greenhouse.forms import CREATE_RISK
from apps.greenhouse.models import GreenhouseIntegration, SwitchEvent, SyncRecord
from apps.greenhouse.policy import Reason, UnknownRecipients
from apps.greenhouse.switches import team_unknown_recipients_set
from tests.greenhouse.sync_helpers import write_all
from tests.greenhouse.test_candidate_gone import sms_to

pytestmark = pytest.mark.django_db
Status = SyncRecord.Status
BASE = {"sync_on": "on", "note_visibility": "public", "maildrop_overlap": "skip_sync_note"}


def test_the_page_offers_the_three_choices_with_the_duplicate_risk_stated(client, synced, settings):
    settings.GREENHOUSE_WAITING_LOOKUP_SCHEDULE = [120, 600, 3600, 21600, 86400]
    client.force_login(synced.ada)
    page = unescape(client.get(reverse("greenhouse:settings")).content.decode())
    assert "Recipients not in Greenhouse" in page
    assert "Wait for them to appear in Greenhouse, and list them for review" in page
    assert "Create them in Greenhouse (after checking every email)" in page
    assert "Skip their messages" in page
    assert CREATE_RISK in page and "Duplicate risk:" in page
    assert "looks them up again (2 min, 10 min, 1 h, 6 h, then every day)" in page
    assert 'name="waiting_days" value="30"' in page
    integration = GreenhouseIntegration.objects.get(pk=synced.integration.pk)
    assert (integration.unknown_recipients, integration.waiting_days) == ("wait", 30)


def test_a_team_admin_changes_them_and_the_history_says_who_and_what(synced):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(synced.ada)
    url = reverse("greenhouse:settings")
    page = browser.get(url)
    token = page.cookies["csrftoken"].value
    data = {**BASE, "unknown_recipients": "create", "waiting_days": "45"}

    assert browser.post(url, data).status_code == 403  # no CSRF token
    response = browser.post(url, {**data, "csrfmiddlewaretoken": token})

    assert response.status_code == 302
    integration = GreenhouseIntegration.objects.get(pk=synced.integration.pk)
    assert (integration.unknown_recipients, integration.waiting_days) == ("create", 45)
    events = {e.change: e for e in SwitchEvent.objects.filter(integration=integration)}
    choice = events[SwitchEvent.Change.UNKNOWN_RECIPIENTS]
    assert choice.value == "Create them in Greenhouse (after checking every email)"
    assert choice.by == synced.ada and choice.by_name == synced.ada.get_full_name()
    assert events[SwitchEvent.Change.WAITING_DAYS].value == "45 days"
    history = unescape(browser.get(url).content.decode())
    assert "Recipients not in Greenhouse: choice changed" in history
    assert "Waiting window changed" in history

    # Saving the same values again adds nothing to the history.
    browser.post(url, {**data, "csrfmiddlewaretoken": token})
    assert SwitchEvent.objects.filter(integration=integration).count() == 2


@pytest.mark.parametrize("days", ["0", "366", "-3", "thirty"])
def test_the_waiting_window_is_validated(client, synced, days):
    client.force_login(synced.ada)
    response = client.post(
        reverse("greenhouse:settings"), {**BASE, "unknown_recipients": "wait", "waiting_days": days}
    )
    assert response.status_code == 400
    integration = GreenhouseIntegration.objects.get(pk=synced.integration.pk)
    assert integration.waiting_days == 30
    assert not SwitchEvent.objects.filter(change=SwitchEvent.Change.WAITING_DAYS).exists()


def test_an_unknown_choice_is_refused_by_the_form_and_the_service(client, synced):
    client.force_login(synced.ada)
    response = client.post(reverse("greenhouse:settings"), {**BASE, "unknown_recipients": "all"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    with pytest.raises(ValidationError):
        team_unknown_recipients_set(team=synced.team, choice="all", waiting_days=30, by=synced.ada)
    with pytest.raises(ValidationError):
        team_unknown_recipients_set(
            team=synced.team, choice="wait", waiting_days=366, by=synced.ada
        )
    assert GreenhouseIntegration.objects.get(pk=synced.integration.pk).unknown_recipients == "wait"


def test_a_recruiter_cannot_change_them(client, synced):
    client.force_login(synced.rob)
    data = {**BASE, "unknown_recipients": "skip", "waiting_days": "5"}
    assert client.post(reverse("greenhouse:settings"), data).status_code == 403
    integration = GreenhouseIntegration.objects.get(pk=synced.integration.pk)
    assert (integration.unknown_recipients, integration.waiting_days) == ("wait", 30)
    assert not SwitchEvent.objects.exists()


def test_a_post_without_the_new_fields_leaves_them_as_they_are(client, synced):
    client.force_login(synced.ada)
    assert client.post(reverse("greenhouse:settings"), BASE).status_code == 302
    integration = GreenhouseIntegration.objects.get(pk=synced.integration.pk)
    assert (integration.unknown_recipients, integration.waiting_days) == ("wait", 30)


def test_choosing_skip_skips_the_messages_waiting_now(synced, harvest_sandbox):
    record = sms_to(synced, synced.linus, "Hello")
    write_all()
    record.refresh_from_db()
    assert (record.status, record.reason) == (Status.HELD, Reason.NOT_IN_GREENHOUSE_YET)

    team_unknown_recipients_set(
        team=synced.team, choice=UnknownRecipients.SKIP, waiting_days=30, by=synced.ada
    )

    record.refresh_from_db()
    assert (record.status, record.reason) == (Status.SKIPPED, Reason.NO_CANDIDATE)
    event = SwitchEvent.objects.get(change=SwitchEvent.Change.UNKNOWN_RECIPIENTS)
    assert "1 waiting message skipped" in event.effect


def test_support_sees_the_choice_in_the_django_admin(staff_client, synced):
    team_unknown_recipients_set(team=synced.team, choice="skip", waiting_days=7, by=synced.ada)
    url = reverse("admin:greenhouse_greenhouseintegration_change", args=[synced.integration.pk])
    page = unescape(staff_client.get(url).content.decode())
    assert "recipients not in Greenhouse: skip their messages (7 days)" in page
    listing = staff_client.get(reverse("admin:greenhouse_greenhouseintegration_changelist"))
    assert "unknown_recipients" in listing.content.decode()  # the filter
