"""The signal this app sends.

`message_recorded`
    Sent with ``sender=Message, message=<Message>, created=<bool>``, always inside the
    transaction that wrote the row (so a receiver's own writes commit or roll back with it):

    - ``created=True`` when a Message row is created: an outbound email or SMS when it is queued
      (sequence step, recruiter answer, one-off SMS), an inbound one when it is stored;
    - ``created=False`` when an outbound message's status becomes "sent".

    Receivers should only record work (e.g. a sync row) and queue tasks on commit; they must not
    call external services. The Greenhouse app connects here: this app never imports it.

The receivers of Anymail's own signals are receivers.py's.
"""

from django.dispatch import Signal

message_recorded = Signal()
