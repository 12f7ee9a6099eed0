"""Pages of issue 14 in headless Chromium: the connection page's "Next steps" checklist follows
the team's state, the sync log finds a candidate by name, and the dev outbox shows an email's
HTML part, sandboxed, with its pause link working (no CSP violation on any of them)."""

import pytest
from playwright.sync_api import expect

from apps.greenhouse.bot_notice import bot_notice_send
from apps.greenhouse.models import GreenhouseIntegration, SyncRecord
from apps.greenhouse.switches import team_sync_enable_by_support
from tests.browser.scenes import demo_team, sandbox_integration, synced_world
from tests.fixtures.browser import log_in
from tests.greenhouse.factories import SyncRecordFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.sequences.factories import ProspectEmailFactory, ProspectFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def expect_steps(page, **states):
    for key, state in states.items():
        step = page.locator(f'#next-steps li[data-step="{key}"]')
        expect(step).to_have_class(state)
        expect(step.locator(".badge")).to_have_text("Done" if state == "done" else "To do")


def test_the_connection_checklist_follows_the_teams_state(page, harvest_sandbox):
    team, users = demo_team()
    log_in(page, "ada")
    page.goto("/team/greenhouse/")
    expect_steps(page, connected="todo", users_mapped="todo", enabled_by_support="todo")
    expect_steps(page, sync_on="todo")
    expect(page.locator('#next-steps li[data-step="enabled_by_support"]')).to_contain_text(
        "team slug “acme”"
    )

    # Support saved the credential on the sandbox's host; the team admin tests it.
    integration = sandbox_integration(team, harvest_sandbox)
    page.reload()
    expect(page.locator('#next-steps li[data-step="connected"]')).to_contain_text("not tested yet")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator(".flash")).to_contain_text("2 of 2 team members mapped")
    expect_steps(page, connected="done", users_mapped="done", enabled_by_support="todo")

    team_sync_enable_by_support(integration=integration, by=users["support"])
    page.reload()
    expect_steps(page, enabled_by_support="done", sync_on="todo")
    page.locator('#next-steps li[data-step="sync_on"]').get_by_role(
        "link", name="Turn it on"
    ).click()
    page.get_by_label("Sync email and SMS activity to Greenhouse").check()
    page.get_by_role("button", name="Save sync settings").click()
    expect(page.locator(".flash")).to_contain_text("Greenhouse sync settings saved.")
    integration.refresh_from_db()
    assert integration.sync_on

    page.get_by_role("link", name="Greenhouse connection").click()
    expect_steps(
        page, connected="done", users_mapped="done", enabled_by_support="done", sync_on="done"
    )
    # And back: the connection breaks.
    harvest_sandbox.revoke_credential(harvest_sandbox.client_id)
    page.get_by_role("button", name="Test connection").click()
    expect_steps(page, connected="todo")
    assert GreenhouseIntegration.objects.get(pk=integration.pk).health == "needs_attention"


def test_the_sync_log_finds_a_candidate_by_name(page):
    team, users = demo_team()
    for first, last in [("Grace", "Hopper"), ("Alan", "Turing"), ("Katherine", "Johnson")]:
        prospect = ProspectFactory(team=team, first_name=first, last_name=last)
        ProspectEmailFactory(prospect=prospect, email=f"{first.lower()}@example.com")
        thread = ThreadFactory(team=team, prospect=prospect, owner=users["rob"])
        SyncRecordFactory(message=MessageFactory(thread=thread), status=SyncRecord.Status.WRITTEN)

    log_in(page, "ada")
    page.goto("/team/greenhouse/log/")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(3)
    search = page.get_by_label("Search")
    expect(search).to_have_attribute(
        "placeholder", "Candidate name or email, Message-ID or note ID"
    )
    search.fill("grace hop")
    search.press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Grace Hopper")
    search = page.get_by_label("Search")
    search.fill("Turing")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Alan Turing")


def test_the_dev_outbox_shows_the_bot_emails_html_with_a_working_pause_link(
    page, live_server, harvest_sandbox, anymail_outbox, settings, tmp_path
):
    settings.DEV_TOOLS = True
    settings.EMAIL_BACKEND = "apps.messaging.backends.DevOutboxEmailBackend"
    settings.DEV_OUTBOX_DIR = tmp_path / "outbox"
    settings.PUBLIC_BASE_URL = live_server.url
    world = synced_world(harvest_sandbox)
    assert bot_notice_send(thread_id=world.thread.pk) == "sent"  # to the dev outbox

    log_in(page, "rob")
    page.goto("/dev/outbox/")
    html_part = page.locator("details.html-part").first
    html_part.locator("summary").click()
    frame = page.frame_locator("iframe.html-part").first
    link = frame.get_by_role("link", name="Pause sync for Grace Hopper")
    expect(link).to_be_visible()
    with page.context.expect_page() as opened:
        link.click()
    pause = opened.value
    pause.wait_for_load_state()
    assert "/greenhouse/pause/" in pause.url
    expect(pause.get_by_role("heading", level=1)).to_have_text(
        "Pause Greenhouse sync for Grace Hopper?"
    )
