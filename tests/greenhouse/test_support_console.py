"""The support console in the Django admin: the sync records list built for millions of rows,
retry, and the dashboard."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.greenhouse.admin import CappedPaginator, SyncRecordAdmin
from apps.greenhouse.models import SyncRecord
from apps.greenhouse.selectors import sync_daily_counts
from tests.greenhouse.factories import (
    CandidateLinkFactory,
    GreenhouseIntegrationFactory,
    SyncRecordFactory,
)
from tests.messaging.factories import MessageFactory, ThreadFactory, UnmatchedInboundFactory
from tests.sequences.factories import ProspectEmailFactory
from tests.teams.factories import TeamFactory

pytestmark = pytest.mark.django_db
Status = SyncRecord.Status
CHANGELIST = "admin:greenhouse_syncrecord_changelist"


@pytest.fixture
def records():
    thread = ThreadFactory(team=TeamFactory(name="Acme"))
    ProspectEmailFactory(prospect=thread.prospect, email="grace@example.com")
    other = ThreadFactory(team=TeamFactory(name="Globex"))
    return {
        "failed": SyncRecordFactory(
            message=MessageFactory(thread=thread, provider_message_id="esp-123"),
            status=Status.FAILED,
            last_error="Greenhouse had a server error (502).",
        ),
        "written": SyncRecordFactory(
            message=MessageFactory(thread=thread, message_id="m1@outreach.test"),
            status=Status.WRITTEN,
            note_id=555,
            candidate_id=40001,
        ),
        "held": SyncRecordFactory(message=MessageFactory(thread=other), status=Status.HELD),
        "skipped": SyncRecordFactory(message=MessageFactory(thread=other), status=Status.SKIPPED),
    }


def _listed(response) -> set[int]:
    return {row.pk for row in response.context["cl"].result_list}


def test_filters_by_status_reason_team_channel_and_date(staff_client, records):
    url = reverse(CHANGELIST)
    assert _listed(staff_client.get(url, {"status__exact": "failed"})) == {records["failed"].pk}
    team = records["held"].team_id
    assert _listed(staff_client.get(url, {"team": team})) == {
        records["held"].pk,
        records["skipped"].pk,
    }
    assert len(_listed(staff_client.get(url, {"reason": "sequence_email"}))) == 4
    assert _listed(staff_client.get(url, {"channel__exact": "sms"})) == set()
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    response = staff_client.get(
        url, {"created_at__gte": str(today), "created_at__lt": str(today + timedelta(days=1))}
    )
    assert len(_listed(response)) == 4


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("Grace@Example.com", {"failed", "written"}),
        ("<m1@outreach.test>", {"written"}),
        ("esp-123", {"failed"}),
        ("555", {"written"}),
        ("nobody@example.com", set()),
    ],
)
def test_search_takes_exact_values(staff_client, records, term, expected):
    response = staff_client.get(reverse(CHANGELIST), {"q": term})
    assert _listed(response) == {records[key].pk for key in expected}


def test_search_by_greenhouse_candidate_id(staff_client, records):
    CandidateLinkFactory(prospect=records["written"].prospect, candidate_id=40001, match="one")
    response = staff_client.get(reverse(CHANGELIST), {"q": "40001"})
    assert _listed(response) == {records["failed"].pk, records["written"].pk}


def test_the_list_never_counts_the_whole_table(staff_client, records):
    with CaptureQueriesContext(connection) as captured:
        assert staff_client.get(reverse(CHANGELIST)).status_code == 200
    counts = [q["sql"] for q in captured if "COUNT(" in q["sql"].upper()]
    # One bounded count (over a LIMIT subquery); no facet counts, no full result count.
    assert len(counts) == 1 and "LIMIT" in counts[0].upper()
    assert SyncRecordAdmin.show_full_result_count is False
    assert SyncRecordAdmin.list_select_related == ("team", "prospect")


def test_the_capped_paginator_stops_counting_at_the_cap(records, monkeypatch):
    monkeypatch.setattr(CappedPaginator, "COUNT_CAP", 3)
    assert CappedPaginator(SyncRecord.objects.order_by("-id"), 2).count == 3
    assert CappedPaginator(SyncRecord.objects.filter(status="held"), 2).count == 1


def test_retry_and_bulk_retry(staff_client, records):
    response = staff_client.post(
        reverse(CHANGELIST),
        {
            "action": "retry",
            "_selected_action": [records["failed"].pk, records["held"].pk, records["written"].pk],
        },
        follow=True,
    )
    texts = [str(m) for m in response.context["messages"]]
    assert texts[0].startswith("2 records queued again")
    assert texts[1] == "1 not retried: only failed or held records can be."
    statuses = dict(SyncRecord.objects.values_list("pk", "status"))
    assert statuses[records["failed"].pk] == statuses[records["held"].pk] == Status.PENDING
    assert statuses[records["written"].pk] == Status.WRITTEN


def test_retry_one_record_from_its_page(staff_client, records):
    record = records["failed"]
    page = staff_client.get(reverse("admin:greenhouse_syncrecord_change", args=[record.pk]))
    retry_url = reverse("admin:greenhouse_syncrecord_retry", args=[record.pk])
    assert retry_url in page.content.decode()
    assert staff_client.get(retry_url).status_code == 405
    response = staff_client.post(retry_url, follow=True)
    assert next(str(m) for m in response.context["messages"]).startswith("1 record queued")
    record.refresh_from_db()
    assert record.status == Status.PENDING


def test_the_dashboard_counts_per_day_and_team_in_one_query(staff_client, records):
    now = timezone.now()
    team = records["written"].team
    thread = records["written"].thread
    for days_ago, status in [(1, "written"), (1, "written"), (1, "failed"), (20, "written")]:
        record = SyncRecordFactory(message=MessageFactory(thread=thread), status=status)
        SyncRecord.objects.filter(pk=record.pk).update(created_at=now - timedelta(days=days_ago))
    with CaptureQueriesContext(connection) as captured:
        day_list, counts = sync_daily_counts(days=14, now=now)
    assert len(captured) == 1
    assert len(day_list) == 14 and day_list[-1] == timezone.localdate(now)
    yesterday = day_list[-2]
    assert counts[team.pk][yesterday] == {"written": 2, "skipped": 0, "failed": 1}
    assert counts[team.pk][day_list[-1]] == {"written": 1, "skipped": 0, "failed": 1}
    assert sum(sum(day.values()) for day in counts[team.pk].values()) == 5  # not the 20-day one

    GreenhouseIntegrationFactory(team=team, health="needs_attention", last_error="Bad credentials")
    UnmatchedInboundFactory()
    page = staff_client.get(reverse("admin:greenhouse_syncrecord_dashboard"), {"days": 30})
    html = page.content.decode()
    assert page.status_code == 200 and "30 days</strong>" in html
    assert html.count('class="dash-team"') == 2
    assert 'class="seg failed"' in html and "Needs attention" in html and "Bad credentials" in html
    assert "1 unmatched inbound message" in html


def test_the_admin_index_links_the_dashboard_and_the_queues(staff_client):
    html = staff_client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:greenhouse_syncrecord_dashboard") in html
    assert "?status__exact=failed" in html
    assert reverse("admin:messaging_unmatchedinbound_changelist") in html


def test_lists_filters_and_pages_show_reason_labels_not_codes(staff_client):
    from apps.greenhouse.policy import LABELS, Reason

    skipped = SyncRecordFactory(status=SyncRecord.Status.SKIPPED, reason=Reason.NO_CANDIDATE)
    SyncRecordFactory(status=SyncRecord.Status.WRITTEN, reason=Reason.SMS, note_id=5)
    assert set(LABELS) == set(Reason)  # every reason has a label

    listing = staff_client.get(reverse("admin:greenhouse_syncrecord_changelist")).content.decode()
    rows = listing.split("<tbody>")[1].split("</tbody>")[0]
    assert ">No candidate<" in rows and ">SMS<" in rows
    assert "no_candidate" not in rows.replace("?reason=no_candidate", "")
    assert 'href="?reason=no_candidate">No candidate</a>' in listing  # the filter's label
    page = staff_client.get(
        reverse("admin:greenhouse_syncrecord_change", args=[skipped.pk])
    ).content.decode()
    assert ">No candidate<" in page
