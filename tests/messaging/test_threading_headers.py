"""In-Reply-To and References: one rule (addressing.REFERENCES_KEPT, reply_headers) and one
history (selectors.thread_message_ids) for every sender of mail in a thread."""

import pytest

from apps.messaging.addressing import REFERENCES_KEPT, bracket, reply_headers, trim_references
from apps.messaging.outbound import thread_reply_create
from apps.messaging.selectors import thread_message_ids
from tests.messaging.factories import MessageFactory, ThreadFactory


def test_references_keep_the_first_message_and_the_latest_ones():
    ids = [f"m{n}@x" for n in range(REFERENCES_KEPT + 5)]
    kept = trim_references(ids)
    assert len(kept) == REFERENCES_KEPT
    assert kept == [ids[0], *ids[-(REFERENCES_KEPT - 1) :]]
    assert trim_references(ids[:3]) == ids[:3]
    assert reply_headers(ids) == {"In-Reply-To": f"<{ids[-1]}>", "References": bracket(kept)}
    assert reply_headers([]) == {}


@pytest.mark.django_db
def test_a_reply_in_a_long_thread_refers_to_its_first_and_latest_messages(world):
    thread = ThreadFactory(team=world.team, prospect=world.prospect, owner=world.owner)
    other = ThreadFactory(team=world.team, prospect=world.prospect, owner=world.owner)
    sent = [MessageFactory(thread=thread).message_id for _ in range(REFERENCES_KEPT + 3)]
    MessageFactory(thread=other)
    MessageFactory(thread=thread, message_id=None)  # an SMS-like row without one is skipped

    history = thread_message_ids(thread_ids=[thread.pk, other.pk])
    assert history[thread.pk] == sent and len(history[other.pk]) == 1
    assert thread_message_ids(thread_ids=[])[thread.pk] == []

    reply = thread_reply_create(thread=thread, sender=world.owner, body="Tuesday works.")
    assert reply.in_reply_to == sent[-1]
    assert reply.references == bracket(trim_references(sent))
