"""One thread's own visibility for its later notes (apps/greenhouse/visibility.py): the one rule
(every combination), the service (stricter only, with its history), the conversation page and
its POST (owner and team admins only), both write paths against the sandbox over HTTP (records
not written yet take a change, written ones keep theirs; the stricter of team and thread wins),
and a real worker process writing a thread made private."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.greenhouse.batch import sync_team_write
from apps.greenhouse.models import (
    SyncRecord,
    ThreadNoteVisibility,
    ThreadVisibilityEvent,
)
from apps.greenhouse.switches import team_note_visibility_set
from apps.greenhouse.visibility import (
    note_visibility_for,
    stricter_choices,
    thread_visibility_set,
)
from apps.messaging.models import Channel, Message, Thread
from apps.messaging.outbound import sms_send
from tests.fixtures.messaging import deliver_queued
from tests.fixtures.worker import wait_for
from tests.greenhouse.sync_helpers import our_notes, write_all
from tests.teams.factories import recruiter

Status = SyncRecord.Status
PUBLIC, ADMIN_ONLY, PRIVATE = "public", "admin_only", "private"
GRACE = "grace.hopper@example.com"
READ = {PUBLIC: "publicly_visible", ADMIN_ONLY: "admin_only_visible", PRIVATE: "privately_visible"}

# (team default, thread's own) -> the note's visibility: public < admin_only < private.
TABLE = {
    (PUBLIC, None): PUBLIC,
    (PUBLIC, PUBLIC): PUBLIC,
    (PUBLIC, ADMIN_ONLY): ADMIN_ONLY,
    (PUBLIC, PRIVATE): PRIVATE,
    (ADMIN_ONLY, None): ADMIN_ONLY,
    (ADMIN_ONLY, PUBLIC): ADMIN_ONLY,
    (ADMIN_ONLY, ADMIN_ONLY): ADMIN_ONLY,
    (ADMIN_ONLY, PRIVATE): PRIVATE,
    (PRIVATE, None): PRIVATE,
    (PRIVATE, PUBLIC): PRIVATE,
    (PRIVATE, ADMIN_ONLY): PRIVATE,
    (PRIVATE, PRIVATE): PRIVATE,
    (None, None): PUBLIC,
    (None, ADMIN_ONLY): ADMIN_ONLY,
    ("", PRIVATE): PRIVATE,
}


@pytest.mark.parametrize(("team", "thread"), sorted(TABLE, key=str))
def test_the_stricter_of_the_teams_default_and_the_threads_own_wins(team, thread):
    assert note_visibility_for(team_default=team, thread_override=thread) == TABLE[team, thread]


def test_a_thread_is_offered_only_visibilities_stricter_than_the_teams():
    def offered(team):
        return [value for value, _ in stricter_choices(team)]

    assert offered(PUBLIC) == [ADMIN_ONLY, PRIVATE]
    assert offered(ADMIN_ONLY) == [PRIVATE]
    assert offered(PRIVATE) == []


# --- The service -------------------------------------------------------------------------------


def _email_thread(world):
    from tests.messaging.factories import ThreadFactory

    return ThreadFactory(
        team=world.team, prospect=world.grace, owner=world.rob, channel=Channel.EMAIL
    )


@pytest.mark.django_db
def test_a_stricter_choice_is_saved_with_who_and_when_and_its_history(synced):
    thread = _email_thread(synced)
    saved = thread_visibility_set(thread=thread, visibility=PRIVATE, by=synced.rob)
    assert saved is not None and saved.visibility == PRIVATE and saved.set_by == synced.rob
    assert saved.set_at is not None
    thread_visibility_set(thread=thread, visibility=ADMIN_ONLY, by=synced.ada)
    thread_visibility_set(thread=thread, visibility=ADMIN_ONLY, by=synced.ada)  # no change
    assert thread_visibility_set(thread=thread, visibility="", by=synced.rob) is None
    assert not ThreadNoteVisibility.objects.filter(thread=thread).exists()
    events = list(ThreadVisibilityEvent.objects.filter(thread=thread).order_by("id"))
    assert [(e.previous, e.visibility, e.by) for e in events] == [
        ("", PRIVATE, synced.rob),
        (PRIVATE, ADMIN_ONLY, synced.ada),
        (ADMIN_ONLY, "", synced.rob),
    ]
    assert events[0].by_name


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("team_default", "asked"),
    [(PUBLIC, PUBLIC), (ADMIN_ONLY, PUBLIC), (ADMIN_ONLY, ADMIN_ONLY), (PRIVATE, ADMIN_ONLY)],
)
def test_a_choice_not_stricter_than_the_teams_is_refused_in_plain_words(
    synced, team_default, asked
):
    team_note_visibility_set(team=synced.team, visibility=team_default, by=synced.ada)
    thread = _email_thread(synced)
    with pytest.raises(ValidationError) as refused:
        thread_visibility_set(thread=thread, visibility=asked, by=synced.rob)
    assert "only be stricter than the team's default" in " ".join(refused.value.messages)
    assert not ThreadNoteVisibility.objects.exists()
    assert not ThreadVisibilityEvent.objects.exists()


@pytest.mark.django_db
def test_an_unknown_visibility_is_refused(synced):
    with pytest.raises(ValidationError):
        thread_visibility_set(thread=_email_thread(synced), visibility="secret", by=synced.rob)


# --- The conversation page and its POST ------------------------------------------------------


def _url(thread):
    return reverse("greenhouse:thread-visibility", args=[thread.pk])


@pytest.mark.django_db
def test_the_threads_owner_and_team_admins_may_change_it_other_recruiters_may_not(synced, client):
    thread = _email_thread(synced)
    page = reverse("messaging:thread-detail", args=[thread.pk])

    client.force_login(synced.rob)
    html = client.get(page).content.decode()
    assert "Visibility of this thread's later notes:</strong> Public" in html
    assert "Greenhouse cannot edit or delete a note" in html
    assert 'name="visibility"' in html and 'value="private"' in html
    response = client.post(_url(thread), {"visibility": PRIVATE})
    assert response.status_code == 302 and response["Location"] == page
    assert ThreadNoteVisibility.objects.get(thread=thread).visibility == PRIVATE
    html = client.get(page).content.decode()
    assert "Visibility of this thread's later notes:</strong> Private" in html
    assert "set Private" in html  # the history
    candidate = reverse("greenhouse:prospect-sync", args=[synced.grace.pk])
    assert "later notes: Private" in client.get(candidate).content.decode()

    client.force_login(synced.ada)
    assert client.post(_url(thread), {"visibility": ADMIN_ONLY}).status_code == 302
    assert ThreadNoteVisibility.objects.get(thread=thread).visibility == ADMIN_ONLY

    other = recruiter(synced.team)
    client.force_login(other)
    html = client.get(page).content.decode()
    assert "Visibility of this thread's later notes:</strong> Admin only" in html
    assert 'name="visibility"' not in html  # shown, not offered
    assert client.post(_url(thread), {"visibility": PRIVATE}).status_code == 403
    assert ThreadNoteVisibility.objects.get(thread=thread).visibility == ADMIN_ONLY
    assert ThreadVisibilityEvent.objects.count() == 2


@pytest.mark.django_db
def test_a_less_strict_post_is_refused_with_a_clear_error_and_get_changes_nothing(synced, client):
    team_note_visibility_set(team=synced.team, visibility=ADMIN_ONLY, by=synced.ada)
    thread = _email_thread(synced)
    client.force_login(synced.rob)
    html = client.get(reverse("messaging:thread-detail", args=[thread.pk])).content.decode()
    assert 'value="public"' not in html and 'value="private"' in html  # only stricter offered
    response = client.post(_url(thread), {"visibility": PUBLIC}, follow=True)
    assert "only be stricter than the team&#x27;s default" in response.content.decode()
    assert not ThreadNoteVisibility.objects.exists()
    assert client.get(_url(thread)).status_code == 405
    assert not ThreadVisibilityEvent.objects.exists()


# --- Both write paths, against the sandbox over HTTP ---------------------------------------------


def _sms(world, body):
    message = sms_send(sender=world.rob, prospect=world.grace, body=body)
    deliver_queued()
    return message


def _visibilities(sandbox) -> list[str]:
    notes = sorted(our_notes(sandbox, GRACE), key=lambda n: n["id"])
    return [n["visibility"] for n in notes]


@pytest.mark.django_db(transaction=True)
def test_the_careful_path_writes_later_notes_with_the_threads_visibility(synced, harvest_sandbox):
    first = _sms(synced, "Hello Grace")
    assert write_all() == ["written"]
    thread = Thread.objects.get(pk=first.thread_id)
    waiting = _sms(synced, "Are you free on Friday?")  # pending when the change is saved
    thread_visibility_set(thread=thread, visibility=PRIVATE, by=synced.rob)
    assert write_all() == ["written"]
    assert _visibilities(harvest_sandbox) == [READ[PUBLIC], READ[PRIVATE]]
    records = {r.message_id: r for r in SyncRecord.objects.all()}
    assert records[first.pk].visibility == PUBLIC  # written before: keeps its own
    assert records[waiting.pk].visibility == PRIVATE

    # The team's default becomes stricter than public but not than private: private stays.
    team_note_visibility_set(team=synced.team, visibility=ADMIN_ONLY, by=synced.ada)
    _sms(synced, "Third")
    thread_visibility_set(thread=thread, visibility="", by=synced.rob)
    _sms(synced, "Fourth")  # back to the team's default
    assert write_all() == ["written", "written"]
    assert _visibilities(harvest_sandbox)[2:] == [READ[ADMIN_ONLY], READ[ADMIN_ONLY]]

    # Shown in the team's sync log with the visibility each note was written with.
    from django.test import Client

    admin = Client()
    admin.force_login(synced.ada)
    log = admin.get(reverse("greenhouse:log")).content.decode()
    assert "Private: users allowed to see private notes" in log
    assert "Public: everyone with access to the candidate" in log


@pytest.mark.django_db(transaction=True)
def test_the_fast_path_uses_the_same_rule_and_the_team_default_wins_when_stricter(
    synced, harvest_sandbox
):
    _sms(synced, "First")  # the careful way: its lookup links the prospect
    assert sync_team_write(team_id=synced.team.pk).get("written") == 1
    thread = Thread.objects.get(prospect=synced.grace, channel=Channel.SMS)
    thread_visibility_set(thread=thread, visibility=ADMIN_ONLY, by=synced.rob)
    for n in range(3):
        _sms(synced, f"Fast {n}")
    assert sync_team_write(team_id=synced.team.pk) == {"written": 3}
    # The team's default becomes stricter than the thread's own: the stricter wins.
    team_note_visibility_set(team=synced.team, visibility=PRIVATE, by=synced.ada)
    for n in range(2):
        _sms(synced, f"Later {n}")
    assert sync_team_write(team_id=synced.team.pk) == {"written": 2}
    assert (
        _visibilities(harvest_sandbox)
        == [READ[PUBLIC]] + [READ[ADMIN_ONLY]] * 3 + [READ[PRIVATE]] * 2
    )
    stored = list(
        SyncRecord.objects.order_by("message__created_at", "message_id").values_list(
            "visibility", flat=True
        )
    )
    assert stored == [PUBLIC] + [ADMIN_ONLY] * 3 + [PRIVATE] * 2
    assert SyncRecord.objects.filter(status=Status.WRITTEN).count() == 6


# --- A real worker process -----------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_with_a_worker_a_thread_made_private_has_its_later_notes_private(
    synced, harvest_sandbox, celery_worker_factory, settings
):
    from tests.greenhouse.test_sync_acceptance import worker_env

    celery_worker_factory(concurrency=2, extra_env=worker_env(settings))
    earlier = sms_send(sender=synced.rob, prospect=synced.grace, body="Hello Grace")
    wait_for(
        lambda: SyncRecord.objects.filter(message=earlier, status=Status.WRITTEN).exists(),
        message="the earlier note was not written",
    )
    thread = Thread.objects.get(pk=earlier.thread_id)
    from django.test import Client

    browser = Client()
    browser.force_login(synced.rob)
    assert browser.post(_url(thread), {"visibility": PRIVATE}).status_code == 302
    later = [
        sms_send(sender=synced.rob, prospect=synced.grace, body=f"Later {n}") for n in range(3)
    ]
    wait_for(
        lambda: SyncRecord.objects.filter(message__in=later, status=Status.WRITTEN).count() == 3,
        message="the later notes were not written",
    )
    notes = sorted(our_notes(harvest_sandbox, GRACE), key=lambda n: n["id"])
    assert [n["visibility"] for n in notes] == [READ[PUBLIC]] + [READ[PRIVATE]] * 3
    assert [n["id"] for n in notes] == [
        SyncRecord.objects.get(message=m).note_id for m in [earlier, *later]
    ]
    assert Message.objects.filter(thread=thread).count() == 4


# --- A change that commits while a POST is being prepared ------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_change_saved_after_the_careful_path_chose_is_seen_under_the_gate(
    synced, harvest_sandbox, monkeypatch
):
    from apps.greenhouse import writer

    _sms(synced, "Hello Grace")
    assert write_all() == ["written"]
    thread = Thread.objects.get(prospect=synced.grace, channel=Channel.SMS)
    _sms(synced, "Second")
    real_check, calls = writer._switch_check, []

    def check_then_change(claim):
        # The first look, before the gate: the visibility was chosen already (public).
        if not calls:
            thread_visibility_set(thread=thread, visibility=PRIVATE, by=synced.rob)
        calls.append(claim.record.pk)
        return real_check(claim)

    monkeypatch.setattr(writer, "_switch_check", check_then_change)
    assert write_all() == ["written"]
    assert _visibilities(harvest_sandbox) == [READ[PUBLIC], READ[PRIVATE]]  # one POST, private
    assert SyncRecord.objects.filter(visibility=PRIVATE, status=Status.WRITTEN).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_change_saved_after_the_fast_path_read_its_facts_is_seen_under_the_gate(
    synced, harvest_sandbox, monkeypatch
):
    from apps.greenhouse import fastpath

    _sms(synced, "First")
    assert sync_team_write(team_id=synced.team.pk).get("written") == 1
    thread = Thread.objects.get(prospect=synced.grace, channel=Channel.SMS)
    for n in range(2):
        _sms(synced, f"Fast {n}")
    real_started = fastpath._posts_started

    def started_then_change(fast, claimed_at):
        done = real_started(fast, claimed_at)
        thread_visibility_set(thread=thread, visibility=ADMIN_ONLY, by=synced.rob)
        return done

    monkeypatch.setattr(fastpath, "_posts_started", started_then_change)
    assert sync_team_write(team_id=synced.team.pk) == {"written": 2}
    assert _visibilities(harvest_sandbox) == [READ[PUBLIC]] + [READ[ADMIN_ONLY]] * 2
    assert SyncRecord.objects.filter(visibility=ADMIN_ONLY, status=Status.WRITTEN).count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_bot_email_names_the_threads_own_visibility(synced, harvest_sandbox, anymail_outbox):
    from django.core import mail

    from apps.greenhouse.bot_notice import VISIBILITY_WORDS, bot_notice_send

    _sms(synced, "Hello Grace")
    thread = Thread.objects.get(prospect=synced.grace, channel=Channel.SMS)
    thread_visibility_set(thread=thread, visibility=PRIVATE, by=synced.rob)
    assert write_all() == ["written"]
    mail.outbox.clear()
    assert bot_notice_send(thread_id=thread.pk) == "sent"
    assert VISIBILITY_WORDS[PRIVATE] in mail.outbox[0].body
    assert "usually including" not in mail.outbox[0].body


@pytest.mark.django_db
def test_nothing_is_offered_when_the_teams_default_is_already_the_strictest(synced, client):
    team_note_visibility_set(team=synced.team, visibility=PRIVATE, by=synced.ada)
    thread = _email_thread(synced)
    client.force_login(synced.rob)
    html = client.get(reverse("messaging:thread-detail", args=[thread.pk])).content.decode()
    assert "Visibility of this thread's later notes:</strong> Private" in html
    assert 'name="visibility"' not in html
