"""Alerts to team admins (issue 16, item 5): one email per cause per team per day at most, a
digest, no storm, the banner that shows and clears, its links, who sees it, support's dashboard
and admin, and two evaluations at once. Mail goes through Anymail's test backend."""

import re
import threading
import time
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from apps.greenhouse.alerts import (
    alert_email_send,
    team_alerts_evaluate,
    team_alerts_evaluate_all,
)
from apps.greenhouse.models import (
    AlertCause,
    AlertEmail,
    GreenhouseIntegration,
    SyncRecord,
    TeamAlert,
)
from apps.greenhouse.policy import Reason
from apps.greenhouse.sweeper import sync_records_sweep
from apps.greenhouse.tasks import team_alerts_evaluate_task
from tests.fixtures.worker import wait_for
from tests.greenhouse.factories import GreenhouseIntegrationFactory, SyncRecordFactory
from tests.messaging.factories import MessageFactory, ThreadFactory

Status = SyncRecord.Status
FAILED_LOG = "/team/greenhouse/log/?status=failed"
REVIEW_LOG = "/team/greenhouse/log/?status=held&reason=awaiting_review"


@pytest.fixture
def ada(team):
    return team.memberships.get(user__username="ada").user


@pytest.fixture
def rob(team):
    return team.memberships.get(user__username="rob").user


@pytest.fixture
def thread(team):
    return ThreadFactory(team=team)


def records(thread, count, **fields):
    return [
        SyncRecordFactory(message=MessageFactory(thread=thread), **fields) for _ in range(count)
    ]


def send_all() -> list[str]:
    return [
        alert_email_send(pk=pk)
        for pk in AlertEmail.objects.filter(status=AlertEmail.Status.PENDING).values_list(
            "pk", flat=True
        )
    ]


def banner(client, user) -> str:
    client.force_login(user)
    page = client.get(reverse("home"))
    assert page.status_code == 200
    html = page.content.decode()
    start = html.find('<div class="alert-banner"')
    return "" if start < 0 else html[start : html.index("</div>", start)]


# --- The email -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_storm_of_failures_gives_one_email_to_the_admins_that_says_how_many(
    team, thread, anymail_outbox
):
    records(thread, 100, status=Status.FAILED)

    email = team_alerts_evaluate(team_id=team.pk)
    assert email is not None and email.causes == [{"cause": "failed_records", "count": 100}]
    assert team_alerts_evaluate(team_id=team.pk) is None  # the next tick: nothing more
    assert send_all() == ["sent"]
    assert alert_email_send(pk=email.pk) == "skipped"  # a redelivered task sends nothing

    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["ada@acme.example"]  # the admin; not Rob, the recruiter
    assert sent.subject == "Greenhouse sync: 100 notes failed to sync to Greenhouse"
    assert "100 notes failed" in sent.body
    assert settings.PUBLIC_BASE_URL + FAILED_LOG in sent.body
    assert (settings.PUBLIC_BASE_URL + FAILED_LOG).replace("&", "&amp;") in sent.alternatives[0][0]
    assert sent.anymail_status.status == {"sent"}
    email.refresh_from_db()
    assert (email.status, email.recipients) == (AlertEmail.Status.SENT, "ada@acme.example")


@pytest.mark.django_db
def test_one_email_per_cause_per_day_and_the_next_day_only_if_it_got_worse(
    team, thread, anymail_outbox
):
    now = timezone.now()
    records(thread, 2, status=Status.FAILED)
    assert team_alerts_evaluate(team_id=team.pk, now=now) is not None
    records(thread, 3, status=Status.FAILED)  # worse, the same day: no second email
    assert team_alerts_evaluate(team_id=team.pk, now=now + timedelta(minutes=5)) is None
    assert TeamAlert.objects.get(team=team).count == 5  # the banner says 5

    # Resolved and failing again the same day: the banner comes back, the email does not.
    SyncRecord.objects.filter(team=team).update(status=Status.WRITTEN)
    assert team_alerts_evaluate(team_id=team.pk, now=now + timedelta(minutes=10)) is None
    assert TeamAlert.objects.get(team=team).resolved_at is not None
    records(thread, 1, status=Status.FAILED)
    assert team_alerts_evaluate(team_id=team.pk, now=now + timedelta(minutes=15)) is None
    assert TeamAlert.objects.get(team=team).resolved_at is None

    # The next day: the reopened episode was not emailed yet, so one email says 1.
    tomorrow = now + timedelta(days=1)
    email = team_alerts_evaluate(team_id=team.pk, now=tomorrow)
    assert email is not None and email.causes == [{"cause": "failed_records", "count": 1}]
    # The day after, still 1: it did not get worse, no email.
    assert team_alerts_evaluate(team_id=team.pk, now=tomorrow + timedelta(days=1)) is None
    records(thread, 1, status=Status.FAILED)  # worse: one more, on a later day
    later = team_alerts_evaluate(team_id=team.pk, now=tomorrow + timedelta(days=1, minutes=1))
    assert later is not None and later.causes == [{"cause": "failed_records", "count": 2}]

    assert send_all() == ["sent", "sent", "sent"]
    assert len(mail.outbox) == 3


@pytest.mark.django_db
def test_several_causes_open_at_once_give_one_digest_with_a_link_each(team, thread, anymail_outbox):
    GreenhouseIntegrationFactory(team=team, health=GreenhouseIntegration.Health.NEEDS_ATTENTION)
    records(thread, 3, status=Status.FAILED)
    old = records(thread, 2, status=Status.HELD, reason=Reason.AWAITING_REVIEW)
    records(thread, 4, status=Status.HELD, reason=Reason.AWAITING_REVIEW)  # waiting < a day
    SyncRecord.objects.filter(pk__in=[r.pk for r in old]).update(
        created_at=timezone.now() - timedelta(hours=25)
    )

    assert team_alerts_evaluate_all() == 1
    assert team_alerts_evaluate_all() == 0
    assert send_all() == ["sent"]

    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.subject == "Greenhouse sync: 3 things need your attention"
    base = settings.PUBLIC_BASE_URL
    body = sent.body
    assert "The Greenhouse connection needs attention" in body
    assert "3 notes failed to sync" in body
    assert "2 messages have waited for review for over a day" in body
    for link in ("/team/greenhouse/", FAILED_LOG, REVIEW_LOG):
        assert f"Fix it here: {base}{link}\n" in body
    # The order: connection, failures, review.
    assert body.index("connection needs") < body.index("3 notes") < body.index("2 messages")


@pytest.mark.django_db
def test_no_admin_with_an_email_fails_the_email_without_retrying(team, thread, anymail_outbox):
    team.memberships.filter(role="admin").delete()
    records(thread, 1, status=Status.FAILED)
    email = team_alerts_evaluate(team_id=team.pk)
    assert email is not None
    assert alert_email_send(pk=email.pk) == "failed"
    email.refresh_from_db()
    assert email.status == AlertEmail.Status.FAILED and "no admin" in email.error
    assert mail.outbox == []


# --- The banner ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_banner_shows_for_admins_on_every_page_and_clears_when_resolved(
    client, team, thread, ada, rob
):
    failed = records(thread, 2, status=Status.FAILED)
    assert banner(client, ada) == ""  # nothing evaluated yet
    team_alerts_evaluate(team_id=team.pk)

    html = banner(client, ada)
    assert "2 notes failed to sync to Greenhouse." in html
    assert f'href="{FAILED_LOG}"' in html
    # Another team page: the same banner.
    page = client.get(reverse("greenhouse:settings"))
    assert 'class="alert-banner"' in page.content.decode()
    # A recruiter cannot open the pages that fix it: no banner.
    assert banner(client, rob) == ""

    SyncRecord.objects.filter(pk__in=[r.pk for r in failed]).update(status=Status.WRITTEN)
    team_alerts_evaluate(team_id=team.pk)
    assert banner(client, ada) == ""
    alert = TeamAlert.objects.get(team=team, cause=AlertCause.FAILED_RECORDS)
    assert alert.resolved_at is not None


@pytest.mark.django_db
def test_another_teams_alerts_never_show(client, team, ada):
    other = ThreadFactory()
    records(other, 1, status=Status.FAILED)
    team_alerts_evaluate_all()
    assert TeamAlert.objects.filter(team=other.team, resolved_at=None).count() == 1
    assert banner(client, ada) == ""


@pytest.mark.django_db
def test_each_link_opens_the_page_that_fixes_it(client, team, thread, ada):
    GreenhouseIntegrationFactory(team=team, health=GreenhouseIntegration.Health.NEEDS_ATTENTION)
    records(thread, 1, status=Status.FAILED)
    old = records(thread, 1, status=Status.HELD, reason=Reason.AWAITING_REVIEW)
    SyncRecord.objects.filter(pk=old[0].pk).update(created_at=timezone.now() - timedelta(days=2))
    team_alerts_evaluate(team_id=team.pk)

    records(thread, 2, status=Status.WRITTEN)  # in the log, but not in any alert's page
    html = banner(client, ada)
    assert html.count("href=") == 3
    page = client.get("/team/greenhouse/")
    assert 'href="/team/greenhouse/"' in html and page.status_code == 200
    assert "Needs attention" in page.content.decode()
    for link, status, reason in [
        (FAILED_LOG, Status.FAILED, None),
        (REVIEW_LOG, Status.HELD, Reason.AWAITING_REVIEW),
    ]:
        assert f'href="{link.replace("&", "&amp;")}"' in html
        page = client.get(link)
        assert page.status_code == 200
        expected = SyncRecord.objects.filter(team=team, status=status)
        if reason:
            expected = expected.filter(reason=reason)
        # The log lists exactly the records of the alert.
        assert {r.pk for r in page.context["page"].rows} == set(
            expected.values_list("pk", flat=True)
        )
        assert len(page.context["page"].rows) == 1


# --- Support -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_support_sees_the_open_alerts_on_the_dashboard_and_in_the_admin(staff_client, team, thread):
    records(thread, 7, status=Status.FAILED)
    team_alerts_evaluate(team_id=team.pk)

    page = staff_client.get(reverse("admin:greenhouse_syncrecord_dashboard"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Open alerts" in html
    assert f'data-team="{team.pk}" data-cause="failed_records"' in html
    assert "7 notes failed to sync to Greenhouse." in html

    listing = staff_client.get(reverse("admin:greenhouse_teamalert_changelist"))
    assert listing.status_code == 200 and "7 notes failed" in listing.content.decode()
    assert staff_client.get(reverse("admin:greenhouse_teamalert_add")).status_code == 403
    alert = TeamAlert.objects.get(team=team)
    change = staff_client.post(
        reverse("admin:greenhouse_teamalert_change", args=[alert.pk]), {"count": 0}
    )
    assert change.status_code == 403
    assert staff_client.get(reverse("admin:greenhouse_alertemail_changelist")).status_code == 200

    SyncRecord.objects.filter(team=team).update(status=Status.WRITTEN)
    team_alerts_evaluate(team_id=team.pk)
    html = staff_client.get(reverse("admin:greenhouse_syncrecord_dashboard")).content.decode()
    assert "No team has an open alert." in html


# --- Two evaluations at once ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_evaluations_at_once_queue_one_email(team, thread):
    records(thread, 5, status=Status.FAILED)
    GreenhouseIntegrationFactory(team=team, health=GreenhouseIntegration.Health.NEEDS_ATTENTION)
    barrier = threading.Barrier(2, timeout=60)
    results: list = [None, None]
    errors: list = []

    def run(index):
        try:
            barrier.wait()
            results[index] = team_alerts_evaluate(team_id=team.pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert AlertEmail.objects.count() == 1
    assert [r is not None for r in results].count(True) == 1
    email = AlertEmail.objects.get()
    assert {c["cause"] for c in email.causes} == {"connection", "failed_records"}
    assert TeamAlert.objects.filter(team=team).count() == 2


# --- Retries and the sweep -----------------------------------------------------------------------


@pytest.mark.django_db
def test_an_email_that_failed_is_retried_and_a_lost_task_is_queued_by_the_sweep(
    team, thread, anymail_outbox, settings
):
    records(thread, 1, status=Status.FAILED)
    email = team_alerts_evaluate(team_id=team.pk)
    assert email is not None
    settings.EMAIL_BACKEND = "tests.greenhouse.test_alerts.BrokenBackend"
    assert alert_email_send(pk=email.pk) == "retry"
    email.refresh_from_db()
    assert email.status == AlertEmail.Status.PENDING and email.next_attempt_at is not None
    assert "the mail server said no" in email.error

    # Due, and its task lost: the sync sweep queues it once, then trusts the lease.
    later = email.next_attempt_at + timedelta(seconds=1)
    assert sync_records_sweep(now=later)["alert_emails"] == 1
    assert sync_records_sweep(now=later + timedelta(seconds=1))["alert_emails"] == 0
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    AlertEmail.objects.filter(pk=email.pk).update(next_attempt_at=None)
    assert alert_email_send(pk=email.pk) == "sent"
    assert len(mail.outbox) == 1


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionError("the mail server said no")


# --- Real workers --------------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_beat_ticks_on_two_workers_at_once_send_one_email(
    team, thread, celery_worker_factory, anymail_outbox, settings
):
    records(thread, 12, status=Status.FAILED)
    env = {
        "DEV_OUTBOX_DIR": str(settings.DEV_OUTBOX_DIR),
        "EMAIL_BACKEND": "apps.messaging.backends.DevOutboxEmailBackend",
        "PUBLIC_BASE_URL": settings.PUBLIC_BASE_URL,
    }
    workers = [
        celery_worker_factory(concurrency=2, extra_env=env, kinds=("send",)) for _ in range(2)
    ]

    for _ in range(6):  # six ticks at once, as after a beat's restart with a backlog
        team_alerts_evaluate_task.apply_async()

    def ticks_done() -> list[str]:
        pattern = re.compile(r"team_alerts_evaluate_task\[[^\]]+\] succeeded in [^:]+: (\d+)")
        return [m for w in workers for m in pattern.findall(w.log)]

    wait_for(lambda: len(ticks_done()) == 6, message="the six evaluations did not all run")
    wait_for(lambda: AlertEmail.objects.filter(status=AlertEmail.Status.SENT).exists())

    assert sorted(ticks_done()) == ["0", "0", "0", "0", "0", "1"]  # one queued the email
    assert AlertEmail.objects.count() == 1
    folder = Path(settings.DEV_OUTBOX_DIR) / "email"
    wait_for(lambda: list(folder.glob("*.eml")))
    time.sleep(1)  # a second email, if one were on its way, would land by now
    emails = [
        BytesParser(policy=policy.default).parsebytes(p.read_bytes())
        for p in sorted(folder.glob("*.eml"))
    ]
    assert len(emails) == 1
    assert emails[0]["Subject"] == "Greenhouse sync: 12 notes failed to sync to Greenhouse"
    assert emails[0]["To"] == "ada@acme.example"
    body = emails[0].get_body(preferencelist=("plain",)).get_content()
    assert settings.PUBLIC_BASE_URL + FAILED_LOG in body


@pytest.mark.django_db
def test_a_tick_with_nothing_new_costs_four_queries_whatever_the_number_of_teams(
    team, thread, django_assert_max_num_queries
):
    records(thread, 3, status=Status.FAILED)
    for _ in range(5):
        records(ThreadFactory(), 1, status=Status.FAILED)
    assert team_alerts_evaluate_all() == 6
    with django_assert_max_num_queries(4):
        assert team_alerts_evaluate_all() == 0
    # Something changed for one team: that team is evaluated (its count), the others are not.
    records(thread, 1, status=Status.FAILED)
    assert team_alerts_evaluate_all() == 0  # worse the same day: the banner, no email
    assert TeamAlert.objects.get(team=team).count == 4
