"""Review before writing, for sensitive mail (issue 16, item 2).

The matcher on its own (words, case, word boundaries, the SSN- and IBAN-like patterns and what
they must not match), then the flows against the Harvest sandbox over HTTP: a sensitive reply
waits, approved with edited text it is written once with that text, dropped it is never written,
the review time running out applies the team's choice; the pages' access rules; the team's
rules on the sync settings page. The same flows with real worker processes: test_..._worker.
"""

from datetime import timedelta
from html import unescape

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.greenhouse.batch import sync_team_write
from apps.greenhouse.bot_notice import review_notice_send
from apps.greenhouse.models import (
    GreenhouseIntegration,
    ReviewExpiry,
    ReviewNotice,
    ReviewRules,
    SensitiveReview,
    SwitchEvent,
    SyncRecord,
)
from apps.greenhouse.notes import reference_line
from apps.greenhouse.policy import Reason, Review
from apps.greenhouse.sensitive import (
    DEFAULT_TERMS_TEXT,
    TermError,
    iban_is_valid,
    parse_terms,
    sensitive_matches,
)
from apps.greenhouse.sensitive_review import (
    ReviewClosed,
    RulesChange,
    message_matches,
    sensitive_review_approve,
    sensitive_review_drop,
    sensitive_reviews_expire,
    team_review_rules_set,
)
from apps.greenhouse.sweeper import sync_records_sweep
from apps.greenhouse.switches import team_sync_turn_off
from apps.messaging.models import Channel, Message, Thread
from tests.fixtures.messaging import deliver_queued
from tests.greenhouse.sync_helpers import (
    email_reply,
    enroll_and_dispatch_all_steps,
    our_notes,
    sms_reply,
    write_all,
)
from tests.teams.factories import recruiter, team_admin

Status = SyncRecord.Status
GRACE = "grace.hopper@example.com"
SENSITIVE = "Thanks! My salary expectation is 150k, and I need a visa."


# --- The matcher --------------------------------------------------------------------------------


def matches(text, terms=DEFAULT_TERMS_TEXT):
    return sensitive_matches(terms, text)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("What is the SALARY range?", ["salary"]),
        ("Total Compensation: 200k", ["compensation"]),
        ("Please send the offer\n   letter", ["offer letter"]),
        ("I need visa sponsorship", ["visa"]),
        ("medical leave", ["medical"]),
        ("salary, visa and a medical check", ["salary", "visa", "medical"]),
    ],
)
def test_words_and_phrases_match_whole_and_whatever_the_case(text, found):
    assert matches(text) == found


@pytest.mark.parametrize(
    "text",
    [
        "That is advisable",  # visa inside a word
        "Visalia, California",
        "premedical studies",
        "salaryman",  # a longer word
        "an offer, a letter",  # not the phrase
        "",
    ],
)
def test_words_do_not_match_inside_other_words(text):
    assert matches(text) == []


def test_a_trailing_star_matches_any_ending():
    assert sensitive_matches("salar*", "Salaries are reviewed yearly") == ["salar*"]
    assert sensitive_matches("salar*", "Salary") == ["salar*"]
    assert sensitive_matches("salar*", "Presalary") == []


@pytest.mark.parametrize(
    "text",
    [
        "My SSN is 123-45-6789.",
        "ssn: 078 05 1120",
        "(219-09-9999)",
    ],
)
def test_ssn_like_numbers_match(text):
    assert matches(text) == ["SSN-like number"]


@pytest.mark.parametrize(
    "text",
    [
        "Call me at 555-123-4567",  # a phone number: 3-3-4
        "+1 (415) 555-0101",
        "+44 20 7946 0958",
        "Starting 2024-01-15",  # a date
        "on 01-15-2024 or 15.01.2024",
        "123-45-67890",  # too long
        "000-12-3456",  # never issued
        "666-12-3456",
        "912-12-3456",
        "123-00-4567",
        "123-45-0000",
        "123-45 6789",  # two different separators
        "order 123456789",  # no separators: an order number as often as an SSN
    ],
)
def test_phone_numbers_dates_and_impossible_ssns_do_not_match(text):
    assert matches(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "IBAN: DE89 3704 0044 0532 0130 00, thanks",
        "GB82WEST12345698765432",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NL91ABNA0417164300.",
    ],
)
def test_iban_like_numbers_match(text):
    assert matches(text) == ["IBAN-like number"]


@pytest.mark.parametrize(
    "text",
    [
        "DE89 3704 0044 0532 0130 01",  # the check digits do not fit
        "GB82WEST1234569876543",  # one short for GB
        "XX89 3704 0044 0532 0130 00",  # not a country's IBAN
        "de89 3704 0044 0532 0130 00",  # not written as an IBAN is
        "AB12 CDEF GHIJ KLMN",
        "Call +49 30 1234 5678",
        "2024-01-15",
    ],
)
def test_other_numbers_and_codes_are_not_ibans(text):
    assert matches(text) == []


def test_the_iban_check_itself():
    assert iban_is_valid("DE89370400440532013000")
    assert not iban_is_valid("DE89370400440532013001")


def test_the_list_parses_comments_duplicates_and_refuses_what_it_cannot_take():
    rules = parse_terms("# a comment\nSalary\nsalary\n\n[SSN]\n")
    assert [r.label for r in rules] == ["salary", "SSN-like number"]
    with pytest.raises(TermError, match="not a built-in pattern"):
        parse_terms("[passport]")
    with pytest.raises(TermError, match="only at the end"):
        parse_terms("sal*ary")


def test_what_matched_is_the_rules_label_never_the_matched_number():
    assert matches("123-45-6789") == ["SSN-like number"]


# --- The flows, in process, against the sandbox over HTTP ---------------------------------------


def rules_on(world, *, terms=DEFAULT_TERMS_TEXT, hours=72, on_expiry=ReviewExpiry.SKIP):
    return team_review_rules_set(
        integration=world.integration,
        change=RulesChange(enabled=True, terms=terms, review_hours=hours, on_expiry=on_expiry),
        by=world.ada,
    )


@pytest.fixture
def thread(synced, harvest_sandbox):
    """Grace's sequence thread with its three emails written (none of them sensitive)."""
    rules_on(synced)
    enroll_and_dispatch_all_steps(synced, [synced.grace])
    deliver_queued()
    assert write_all().count("written") == 3
    return Thread.objects.get(prospect=synced.grace, channel=Channel.EMAIL)


def sensitive_reply(thread, text=SENSITIVE):
    reply = email_reply(thread, text=text)
    return SyncRecord.objects.get(message=reply)


@pytest.mark.django_db
def test_a_sensitive_reply_waits_for_review_and_nothing_is_written(synced, thread, harvest_sandbox):
    before = len(our_notes(harvest_sandbox, GRACE))
    record = sensitive_reply(thread)

    assert (record.status, record.reason) == (Status.HELD, Reason.AWAITING_REVIEW)
    review = SensitiveReview.objects.get(record=record)
    assert review.state == Review.PENDING and review.matched == ["salary", "visa"]
    assert review.prospect == synced.grace
    assert timedelta(hours=71) < review.expires_at - timezone.now() <= timedelta(hours=72)
    write_all()
    sync_records_sweep()
    record.refresh_from_db()
    assert record.status == Status.HELD and len(our_notes(harvest_sandbox, GRACE)) == before


@pytest.mark.django_db
def test_approved_with_edited_text_it_is_written_once_with_that_text(
    synced, thread, harvest_sandbox
):
    record = sensitive_reply(thread)
    review = SensitiveReview.objects.get(record=record)
    edited = "The candidate shared their expectations (see Outreach)."

    sensitive_review_approve(review=review, by=synced.rob, edited_text=edited)
    assert write_all() == ["written"]
    assert write_all() == []

    record.refresh_from_db()
    assert record.status == Status.WRITTEN
    notes = [n for n in our_notes(harvest_sandbox, GRACE) if n["id"] == record.note_id]
    assert len(notes) == 1
    body = notes[0]["body"]
    assert body.startswith(edited) and body.endswith(reference_line(record.note_ref))
    assert "salary" not in body and "visa" not in body
    assert sum(record.note_ref in n["body"] for n in our_notes(harvest_sandbox, GRACE)) == 1
    record.message.refresh_from_db()
    assert record.message.body_text == SENSITIVE  # the mail itself is not changed
    review.refresh_from_db()
    assert (review.state, review.decided_by, review.edited_text) == (
        Review.APPROVED,
        synced.rob,
        edited,
    )


@pytest.mark.django_db
def test_approved_as_it_is_it_is_written_with_the_message(synced, thread, harvest_sandbox):
    record = sensitive_reply(thread)
    review = SensitiveReview.objects.get(record=record)
    sensitive_review_approve(review=review, by=synced.rob, edited_text=SENSITIVE)  # unchanged
    write_all()
    record.refresh_from_db()
    review.refresh_from_db()
    assert review.edited_text == ""
    note = next(n for n in our_notes(harvest_sandbox, GRACE) if n["id"] == record.note_id)
    assert SENSITIVE in note["body"]


@pytest.mark.django_db
def test_the_batch_fast_path_writes_the_edited_text_too(synced, thread, harvest_sandbox):
    record = sensitive_reply(thread)
    sensitive_review_approve(
        review=SensitiveReview.objects.get(record=record), by=synced.rob, edited_text="Edited."
    )
    sync_team_write(team_id=synced.team.pk)
    record.refresh_from_db()
    assert record.status == Status.WRITTEN
    note = next(n for n in our_notes(harvest_sandbox, GRACE) if n["id"] == record.note_id)
    assert note["body"].startswith("Edited.\n\n")


@pytest.mark.django_db
def test_dropped_it_is_never_written(synced, thread, harvest_sandbox):
    before = len(our_notes(harvest_sandbox, GRACE))
    record = sensitive_reply(thread)
    review = SensitiveReview.objects.get(record=record)

    sensitive_review_drop(review=review, by=synced.rob)
    write_all()
    sync_records_sweep(now=timezone.now() + timedelta(days=10))

    record.refresh_from_db()
    assert (record.status, record.reason) == (Status.SKIPPED, Reason.REVIEW_DROPPED)
    assert len(our_notes(harvest_sandbox, GRACE)) == before
    with pytest.raises(ReviewClosed):
        sensitive_review_approve(review=review, by=synced.ada)
    record.refresh_from_db()
    assert record.status == Status.SKIPPED


@pytest.mark.django_db
def test_the_review_time_running_out_skips_by_the_teams_choice(synced, thread, harvest_sandbox):
    before = len(our_notes(harvest_sandbox, GRACE))
    record = sensitive_reply(thread)
    assert sensitive_reviews_expire(now=timezone.now() + timedelta(hours=71)) == {
        "written": 0,
        "skipped": 0,
        "caught_up": 0,
    }
    later = timezone.now() + timedelta(hours=73)
    assert sync_records_sweep(now=later)["review_expired_skipped"] == 1
    assert sync_records_sweep(now=later)["review_expired_skipped"] == 0  # idempotent
    write_all()
    record.refresh_from_db()
    assert (record.status, record.reason) == (Status.SKIPPED, Reason.REVIEW_EXPIRED)
    assert SensitiveReview.objects.get(record=record).state == Review.EXPIRED_SKIP
    assert len(our_notes(harvest_sandbox, GRACE)) == before


@pytest.mark.django_db
def test_the_review_time_running_out_writes_by_the_teams_choice(synced, thread, harvest_sandbox):
    rules_on(synced, hours=2, on_expiry=ReviewExpiry.WRITE)
    record = sensitive_reply(thread)
    later = timezone.now() + timedelta(hours=3)
    assert sensitive_reviews_expire(now=later) == {"written": 1, "skipped": 0, "caught_up": 0}
    assert sensitive_reviews_expire(now=later) == {"written": 0, "skipped": 0, "caught_up": 0}
    assert write_all() == ["written"]
    record.refresh_from_db()
    assert record.status == Status.WRITTEN and record.reason == Reason.FIRST_REPLY
    note = next(n for n in our_notes(harvest_sandbox, GRACE) if n["id"] == record.note_id)
    assert SENSITIVE in note["body"]
    with pytest.raises(ReviewClosed):
        sensitive_review_drop(review=SensitiveReview.objects.get(record=record), by=synced.rob)


@pytest.mark.django_db
def test_a_decision_that_crossed_a_workers_hold_is_caught_up_by_the_sweep(
    synced, thread, harvest_sandbox
):
    """A worker read the review as pending and holds the record just after the recruiter's
    approval (or drop) committed: the approval moved nothing, the sweep moves it."""
    approved, dropped = sensitive_reply(thread), sensitive_reply(thread, text="About my visa")
    SensitiveReview.objects.filter(record=approved).update(state=Review.APPROVED)
    SensitiveReview.objects.filter(record=dropped).update(state=Review.DROPPED)

    assert sync_records_sweep()["review_caught_up"] == 2
    assert sync_records_sweep()["review_caught_up"] == 0
    assert write_all() == ["written"]
    approved.refresh_from_db()
    dropped.refresh_from_db()
    assert approved.status == Status.WRITTEN
    assert (dropped.status, dropped.reason) == (Status.SKIPPED, Reason.REVIEW_DROPPED)


@pytest.mark.django_db
def test_a_message_without_sensitive_words_or_with_review_off_is_written_at_once(
    synced, thread, harvest_sandbox
):
    record = sensitive_reply(thread, text="Sounds good, Tuesday works.")
    assert record.status == Status.PENDING and not SensitiveReview.objects.exists()
    team_review_rules_set(
        integration=synced.integration,
        change=RulesChange(False, DEFAULT_TERMS_TEXT, 72, ReviewExpiry.SKIP),
        by=synced.ada,
    )
    record = sensitive_reply(thread, text=SENSITIVE)
    assert record.status == Status.PENDING and not SensitiveReview.objects.exists()


@pytest.mark.django_db
def test_a_message_skipped_anyway_is_not_put_to_review(synced, harvest_sandbox):
    rules_on(synced)
    enroll_and_dispatch_all_steps(synced, [synced.grace])
    deliver_queued()
    GreenhouseIntegration.objects.filter(pk=synced.integration.pk).update(sync_on=False)
    thread = Thread.objects.get(prospect=synced.grace, channel=Channel.EMAIL)
    record = sensitive_reply(thread)
    assert record.status == Status.SKIPPED and not SensitiveReview.objects.exists()


@pytest.mark.django_db
def test_an_sms_with_an_iban_waits_too(synced, harvest_sandbox):
    rules_on(synced)
    reply = sms_reply(synced, synced.grace, text="Pay to GB82 WEST 1234 5698 7654 32")
    record = SyncRecord.objects.get(message=reply)
    assert record.status == Status.HELD
    assert SensitiveReview.objects.get(record=record).matched == ["IBAN-like number"]


@pytest.mark.django_db
def test_the_recruiter_gets_one_bot_email_with_the_review_link(
    synced, thread, harvest_sandbox, anymail_outbox
):
    record = sensitive_reply(thread)
    review = SensitiveReview.objects.get(record=record)
    mail.outbox.clear()

    assert review_notice_send(review_id=review.pk) == "sent"
    assert review_notice_send(review_id=review.pk) == "skipped"

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["rob@acme.example"]
    assert email.subject == "Review before Greenhouse: a message with Grace Hopper"
    link = "https://outreach.test" + reverse("greenhouse:sensitive-review", args=[review.pk])
    assert link in email.body and link in email.alternatives[0][0]
    assert "salary, visa" in email.body
    assert "150k" not in email.body  # the message itself is not in the email
    assert ReviewNotice.objects.get(review=review).status == ReviewNotice.Status.SENT


@pytest.mark.django_db
def test_no_review_email_once_the_message_was_reviewed(
    synced, thread, harvest_sandbox, anymail_outbox
):
    review = SensitiveReview.objects.get(record=sensitive_reply(thread))
    sensitive_review_drop(review=review, by=synced.rob)
    mail.outbox.clear()
    assert review_notice_send(review_id=review.pk) == "not needed"
    assert mail.outbox == []


# --- The pages -----------------------------------------------------------------------------------


@pytest.fixture
def review(synced, thread):
    return SensitiveReview.objects.get(record=sensitive_reply(thread))


@pytest.mark.django_db
def test_the_candidate_page_says_a_message_waits_with_a_link(client, synced, review):
    client.force_login(synced.rob)
    page = client.get(reverse("greenhouse:prospect-sync", args=[synced.grace.pk])).content.decode()
    assert "1 message with Grace Hopper waits for review" in page
    assert reverse("greenhouse:sensitive-review", args=[review.pk]) in page


@pytest.mark.django_db
def test_the_recruiter_reviews_their_own_prospects_message(client, synced, review):
    client.force_login(synced.rob)
    listing = client.get(reverse("greenhouse:sensitive-reviews"))
    assert listing.status_code == 200
    assert reverse("greenhouse:sensitive-review", args=[review.pk]) in listing.content.decode()
    page = client.get(reverse("greenhouse:sensitive-review", args=[review.pk]))
    assert page.status_code == 200 and SENSITIVE in page.content.decode()

    response = client.post(
        reverse("greenhouse:sensitive-review-approve", args=[review.pk]),
        {"edited_text": "Shortened."},
    )
    assert response.status_code == 302
    review.refresh_from_db()
    assert (review.state, review.edited_text) == (Review.APPROVED, "Shortened.")
    assert SyncRecord.objects.get(pk=review.record_id).status == Status.PENDING


@pytest.mark.django_db
def test_get_changes_nothing_and_approve_and_drop_take_only_post(client, synced, review):
    client.force_login(synced.rob)
    for name in ("sensitive-review", "sensitive-review-approve", "sensitive-review-drop"):
        client.get(reverse(f"greenhouse:{name}", args=[review.pk]))
    assert (
        client.get(reverse("greenhouse:sensitive-review-drop", args=[review.pk])).status_code == 405
    )
    review.refresh_from_db()
    assert review.state == Review.PENDING


@pytest.mark.django_db
def test_a_post_without_csrf_is_refused(synced, review):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(synced.rob)
    response = csrf_client.post(reverse("greenhouse:sensitive-review-drop", args=[review.pk]))
    assert response.status_code == 403
    review.refresh_from_db()
    assert review.state == Review.PENDING


@pytest.mark.django_db
def test_another_recruiter_and_another_team_get_404_an_admin_decides(client, synced, review):
    colleague = recruiter(team=synced.team)
    outsider = team_admin()  # another team's admin
    for user in (colleague, outsider):
        client.force_login(user)
        assert (
            client.get(reverse("greenhouse:sensitive-review", args=[review.pk])).status_code == 404
        )
        assert (
            client.post(reverse("greenhouse:sensitive-review-drop", args=[review.pk])).status_code
            == 404
        )
        listing = client.get(reverse("greenhouse:sensitive-reviews")).content.decode()
        assert reverse("greenhouse:sensitive-review", args=[review.pk]) not in listing
    review.refresh_from_db()
    assert review.state == Review.PENDING

    client.force_login(synced.ada)  # the team's admin: the whole team's reviews
    assert client.get(reverse("greenhouse:sensitive-review", args=[review.pk])).status_code == 200
    assert (
        client.post(reverse("greenhouse:sensitive-review-drop", args=[review.pk])).status_code
        == 302
    )
    review.refresh_from_db()
    assert (review.state, review.decided_by) == (Review.DROPPED, synced.ada)
    record = SyncRecord.objects.get(pk=review.record_id)
    assert (record.status, record.reason) == (Status.SKIPPED, Reason.REVIEW_DROPPED)


@pytest.mark.django_db
def test_an_emptied_note_text_is_refused_not_taken_as_the_message(client, synced, review):
    client.force_login(synced.rob)
    url = reverse("greenhouse:sensitive-review-approve", args=[review.pk])
    response = client.post(url, {"edited_text": "  \n "}, follow=True)
    assert "The note's text is empty" in unescape(response.content.decode())
    review.refresh_from_db()
    assert review.state == Review.PENDING


@pytest.mark.django_db
def test_a_second_decision_is_refused_and_says_so(client, synced, review):
    client.force_login(synced.rob)
    client.post(reverse("greenhouse:sensitive-review-drop", args=[review.pk]))
    response = client.post(
        reverse("greenhouse:sensitive-review-approve", args=[review.pk]),
        {"edited_text": "x"},
        follow=True,
    )
    assert "already reviewed" in response.content.decode()
    review.refresh_from_db()
    assert review.state == Review.DROPPED


# --- The team's rules on the sync settings page ------------------------------------------


@pytest.mark.django_db
def test_the_team_admin_sets_the_rules_with_a_switch_history_row(client, synced):
    client.force_login(synced.ada)
    page = client.get(reverse("greenhouse:settings")).content.decode()
    assert "Review before writing, for sensitive mail" in page
    assert "offer letter" in page and "[iban]" in page  # the defaults, offered
    response = client.post(
        reverse("greenhouse:sensitive-review-rules"),
        {
            "enabled": "on",
            "terms": "salary\n[ssn]",
            "review_time": "2",
            "review_unit": "days",
            "on_expiry": "write",
        },
    )
    assert response.status_code == 302
    rules = ReviewRules.objects.get(integration=synced.integration)
    assert (rules.enabled, rules.terms, rules.review_hours, rules.on_expiry) == (
        True,
        "salary\n[ssn]",
        48,
        ReviewExpiry.WRITE,
    )
    event = SwitchEvent.objects.get(change=SwitchEvent.Change.REVIEW_RULES)
    assert event.by == synced.ada and event.value == (
        "On: 2 words and patterns, 2 days to review, then written"
    )
    page = client.get(reverse("greenhouse:settings")).content.decode()
    assert "Review of sensitive mail changed" in page


@pytest.mark.django_db
def test_a_bad_rule_is_refused_and_nothing_changes(client, synced):
    client.force_login(synced.ada)
    data = {
        "enabled": "on",
        "terms": "[passport]",
        "review_time": "2",
        "review_unit": "days",
        "on_expiry": "skip",
    }
    response = client.post(reverse("greenhouse:sensitive-review-rules"), data, follow=True)
    assert "not a built-in pattern" in response.content.decode()
    assert not ReviewRules.objects.exists()


@pytest.mark.django_db
def test_a_recruiter_cannot_change_the_rules(client, synced):
    client.force_login(synced.rob)
    data = {"enabled": "on", "terms": "x", "review_time": "1", "review_unit": "hours"}
    assert client.post(reverse("greenhouse:sensitive-review-rules"), data).status_code == 403
    assert not ReviewRules.objects.exists()


@pytest.mark.django_db
def test_held_for_the_connection_first_it_still_waits_for_review_once_released(
    synced, thread, harvest_sandbox
):
    GreenhouseIntegration.objects.filter(pk=synced.integration.pk).update(
        health=GreenhouseIntegration.Health.NEEDS_ATTENTION
    )
    record = sensitive_reply(thread)
    assert (record.status, record.reason) == (Status.HELD, Reason.CONNECTION_UNHEALTHY)
    assert SensitiveReview.objects.get(record=record).state == Review.PENDING

    GreenhouseIntegration.objects.filter(pk=synced.integration.pk).update(
        health=GreenhouseIntegration.Health.OK
    )
    assert sync_records_sweep()["released"] == 1
    write_all()
    record.refresh_from_db()
    assert (record.status, record.reason) == (Status.HELD, Reason.AWAITING_REVIEW)
    assert record.note_id is None


@pytest.mark.django_db
def test_a_message_settled_for_another_cause_can_no_longer_be_reviewed(synced, thread):
    record = sensitive_reply(thread)
    team_sync_turn_off(team=synced.team, by=synced.ada)
    record.refresh_from_db()
    assert (record.status, record.reason) == (Status.SKIPPED, Reason.SYNC_TURNED_OFF)
    with pytest.raises(ReviewClosed, match="no longer waiting"):
        sensitive_review_approve(review=SensitiveReview.objects.get(record=record), by=synced.rob)
    record.refresh_from_db()
    assert record.status == Status.SKIPPED


@pytest.mark.django_db
def test_reviewed_on_arrival_then_the_writer_decides_as_for_any_message(
    client, synced, harvest_sandbox, anymail_outbox
):
    """The review is asked when the message arrives (while it is fresh); the candidate is looked
    up once it is approved, and a prospect not in Greenhouse then waits for the candidate (the
    team's default choice), as any message does."""
    rules_on(synced)
    enroll_and_dispatch_all_steps(synced, [synced.linus])  # not in Greenhouse
    deliver_queued()
    thread = Thread.objects.get(prospect=synced.linus, channel=Channel.EMAIL)
    record = sensitive_reply(thread)
    review = SensitiveReview.objects.get(record=record)
    assert record.status == Status.HELD

    sensitive_review_approve(review=review, by=synced.rob, edited_text="Edited.")
    write_all()
    record.refresh_from_db()
    assert (record.status, record.reason) == (Status.HELD, Reason.NOT_IN_GREENHOUSE_YET)
    assert not any("Edited." in n["body"] for n in harvest_sandbox.notes())


@pytest.mark.django_db
def test_a_review_whose_message_was_settled_otherwise_asks_nothing(
    client, synced, thread, anymail_outbox
):
    record = sensitive_reply(thread)
    review = SensitiveReview.objects.get(record=record)
    team_sync_turn_off(team=synced.team, by=synced.ada)
    record.refresh_from_db()
    assert record.status == Status.SKIPPED

    mail.outbox.clear()
    assert review_notice_send(review_id=review.pk) == "not needed"
    assert mail.outbox == []
    client.force_login(synced.rob)
    page = client.get(reverse("greenhouse:prospect-sync", args=[synced.grace.pk])).content
    assert b"wait for review" not in page
    page = client.get(reverse("greenhouse:sensitive-review", args=[review.pk])).content.decode()
    assert "Not to be written" in page and "Approve and write" not in page


@pytest.mark.django_db
def test_the_sync_log_and_the_thread_page_link_a_held_message_to_the_reviews(
    client, synced, review
):
    client.force_login(synced.ada)
    log = client.get(reverse("greenhouse:log")).content.decode()
    assert "contains words the team marked as sensitive" in log  # the policy's explanation
    assert f'href="{reverse("greenhouse:sensitive-reviews")}">Review →' in log
    thread = client.get(
        reverse("messaging:thread-detail", args=[review.record.thread_id])
    ).content.decode()
    assert f'href="{reverse("greenhouse:sensitive-reviews")}">Review →' in thread


def test_an_emails_subject_is_matched_too_and_html_only_mail_by_its_text():
    rules = ReviewRules(enabled=True, terms=DEFAULT_TERMS_TEXT)
    by_subject = Message(channel=Channel.EMAIL, subject="Your offer letter", body_text="Hi!")
    assert message_matches(by_subject, rules) == ["offer letter"]
    html_only = Message(channel=Channel.EMAIL, subject="Hi", body_html="<p>My <b>visa</b></p>")
    assert message_matches(html_only, rules) == ["visa"]
    assert message_matches(by_subject, ReviewRules(enabled=False, terms="offer letter")) == []
