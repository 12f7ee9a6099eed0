"""Signals this app sends, and its receivers for Anymail's webhook signals.

`message_recorded`
    Sent with ``sender=Message, message=<Message>, created=<bool>``, always inside the
    transaction that wrote the row (so a receiver's own writes commit or roll back with it):

    - ``created=True`` when a Message row is created: an outbound email or SMS when it is queued
      (sequence step, recruiter answer, one-off SMS), an inbound one when it is stored;
    - ``created=False`` when an outbound message's status becomes "sent".

    Receivers should only record work (e.g. a sync row) and queue tasks on commit; they must not
    call external services. The Greenhouse app connects here: this app never imports it.

Anymail's `tracking` and `inbound` signals (sent by its webhook views under /anymail/) are
handled below by one-line receivers that call services. A receiver exception answers the ESP
with an error, so it delivers again later; the services are idempotent for that reason.
"""

from anymail.signals import inbound, tracking
from django.dispatch import Signal, receiver

message_recorded = Signal()


@receiver(tracking, dispatch_uid="messaging.email_tracking")
def on_email_tracking(sender, event, esp_name, **kwargs):
    from .services import email_tracking_record

    email_tracking_record(event=event, esp_name=esp_name)


@receiver(inbound, dispatch_uid="messaging.email_inbound")
def on_email_inbound(sender, event, esp_name, **kwargs):
    from .services import email_record_inbound

    email_record_inbound(inbound=event.message, esp_name=esp_name, event_id=event.event_id)
