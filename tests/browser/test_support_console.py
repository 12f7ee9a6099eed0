"""The support console as support staff see it: at 1366 px, with the admin's nav sidebar open (the
default). Issue 14, items 8 and 9: the landing page's shortcut links on one line each, and every
list page's results inside the window, without a horizontal scrollbar, showing labels where the
filters do (measured in Chromium: bounding boxes, not markup)."""

import pytest
from django.contrib import admin
from django.urls import reverse
from playwright.sync_api import expect

from apps.greenhouse.pausing import prospect_sync_pause
from apps.greenhouse.policy import Reason
from apps.greenhouse.switches import team_sync_turn_off, team_sync_turn_on
from tests.browser.scenes import globex_disabled, record_history, send_bot_email, synced_world
from tests.fixtures.browser import log_in
from tests.messaging.factories import UnmatchedInboundFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

# For each label: its width on one line in the link's own font, and the box the link got.
SHORTCUTS = """() => [...document.querySelectorAll('.outreach-shortcuts th a')].map(a => {
  const canvas = document.createElement('canvas').getContext('2d');
  canvas.font = getComputedStyle(a).font;
  const th = a.closest('th'), style = getComputedStyle(th);
  return {
    label: a.textContent.trim(),
    labelWidth: canvas.measureText(a.textContent.trim()).width,
    lines: a.getClientRects().length,
    columnWidth: th.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight),
  };
})"""

# The results table against the window, its scroll box and the filters beside it.
FIT = """() => {
  const table = document.querySelector('#result_list');
  if (!table) return null;
  const box = table.closest('.results') || table.parentElement;
  const filter = document.querySelector('#changelist-filter');
  const columns = {};
  table.querySelectorAll('thead th').forEach(th => {
    const name = [...th.classList].find(c => c.startsWith('column-'));
    if (name) columns[name.slice(7)] = th.getBoundingClientRect().right;
  });
  return {
    right: table.getBoundingClientRect().right,
    scrollWidth: box.scrollWidth,
    clientWidth: box.clientWidth,
    filterLeft: filter ? filter.getBoundingClientRect().left : null,
    pageScrolls: document.documentElement.scrollWidth > window.innerWidth,
    viewport: window.innerWidth,
    rows: table.querySelectorAll('tbody tr').length,
    columns,
  };
}"""

# The columns support staff read on the lists of the issue; every list must fit anyway.
KEY_COLUMNS = {
    "greenhouse_syncrecord": ["created", "team", "candidate", "status_badge", "reason_label"],
    "greenhouse_greenhouseintegration": ["team", "health_state", "sync_state", "short_error"],
    "greenhouse_switchevent": ["at", "team", "change_badge", "by_name"],
    "messaging_message": ["created_at", "team", "kind", "status"],
}


def test_the_landing_pages_links_are_as_wide_as_their_labels(page):
    from tests.browser.scenes import demo_team

    demo_team()
    log_in(page, "support", admin=True)
    page.goto("/admin/")
    expect(page.locator(".outreach-shortcuts")).to_be_visible()
    links = page.evaluate(SHORTCUTS)
    assert [link["label"] for link in links] == [
        "Sync dashboard",
        "Failed syncs",
        "Unmatched inbound mail",
    ]
    for link in links:
        assert link["lines"] == 1, f"{link['label']!r} wraps onto {link['lines']} lines"
        assert link["columnWidth"] >= link["labelWidth"] - 0.5, link
    # The box is a few lines tall, not a letter per line (it was about 1,000 px).
    assert page.locator(".outreach-shortcuts").bounding_box()["height"] < 250


def _world(harvest_sandbox, live_server, settings):
    """A row or more on every list of the console."""
    world = synced_world(harvest_sandbox)
    record_history(world.team, owner=world.rob, seed=1)
    record_history(globex_disabled(), seed=2)
    prospect_sync_pause(prospect=world.alan, via="app", by=world.rob)
    team_sync_turn_off(team=world.team, by=world.ada)
    team_sync_turn_on(team=world.team, by=world.ada)
    settings.PUBLIC_BASE_URL = live_server.url
    send_bot_email(world)
    UnmatchedInboundFactory(
        from_address="someone.with.a.rather.long.address@mail.example.org",
        subject="Re: Staff engineer role at Acme Talent, and a question about the interview",
    )
    return world


def test_every_list_page_fits_at_1366_px_with_the_sidebar_open(
    page, harvest_sandbox, anymail_outbox, live_server, settings
):
    _world(harvest_sandbox, live_server, settings)
    log_in(page, "support", admin=True)
    misfits, checked = [], 0
    for model in admin.site._registry:
        key = f"{model._meta.app_label}_{model._meta.model_name}"
        page.goto(reverse(f"admin:{key}_changelist"))
        expect(page.locator("#nav-sidebar")).to_be_visible()  # the default layout
        fit = page.evaluate(FIT)
        if fit is None:  # an empty list shows no table
            assert key not in KEY_COLUMNS, f"{key} has no rows to measure"
            continue
        checked += 1
        edge = min(fit["viewport"], fit["filterLeft"] or fit["viewport"])
        if fit["scrollWidth"] > fit["clientWidth"] + 1 or fit["right"] > edge or fit["pageScrolls"]:
            misfits.append((key, fit))
        for column in KEY_COLUMNS.get(key, []):
            assert column in fit["columns"], f"{key} shows no {column} column"
            assert fit["columns"][column] <= edge, (key, column, fit)
    assert not misfits, f"Lists wider than the window at 1366 px: {misfits}"
    assert checked >= 15  # the lists with rows, the among them


def test_the_sync_records_show_reason_labels_as_the_filters_do(
    page, harvest_sandbox, anymail_outbox, live_server, settings
):
    _world(harvest_sandbox, live_server, settings)
    log_in(page, "support", admin=True)
    page.goto("/admin/greenhouse/syncrecord/")
    filters = page.locator('#changelist-filter details[data-filter-title="reason"]')
    expect(filters.get_by_role("link", name="No candidate")).to_be_visible()
    expect(filters.get_by_role("link", name="SMS", exact=True)).to_be_visible()
    shown = set(page.locator("#result_list td.field-reason_label").all_inner_texts())
    assert {"Sequence email", "No candidate"} <= shown
    assert shown <= {reason.label for reason in Reason}
    body = page.locator("#result_list").inner_text()
    assert not any(reason.value in body for reason in Reason if "_" in reason.value)
