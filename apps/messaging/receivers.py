"""Receivers of Anymail's `tracking` and `inbound` signals (sent by its webhook views under
/anymail/): one line each, calling a service (inbound mail is stored in the inbox, inbox.py, and
processed by a task). A receiver exception answers the ESP with an error, so it delivers again
later; the services are idempotent for that reason. Connected in MessagingConfig.ready().
"""

from anymail.signals import inbound, tracking
from django.dispatch import receiver

from .inbox import inbound_email_accept
from .status import email_tracking_record


@receiver(tracking, dispatch_uid="messaging.email_tracking")
def on_email_tracking(sender, event, esp_name, **kwargs):
    email_tracking_record(event=event, esp_name=esp_name)


@receiver(inbound, dispatch_uid="messaging.email_inbound")
def on_email_inbound(sender, event, esp_name, **kwargs):
    inbound_email_accept(message=event.message, esp_name=esp_name, event_id=event.event_id)
