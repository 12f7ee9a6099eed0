"""Signals the sequences app sends. Other apps (Greenhouse) connect to them; this app imports none.

`enrollment_preflight`
    Sent by `services.enrollment_preflight()` before prospects are enrolled, with
    ``sender=Sequence, sequence=<Sequence>, prospects=<list[Prospect]>``. Each receiver returns a
    list of warning strings (an empty list when all is well). The enroll page shows every warning
    and enrolls only after the recruiter confirms. Example: the Greenhouse app warns when the
    sequence BCCs a Greenhouse Maildrop address and some prospects have no Greenhouse candidate
    (Greenhouse would create an empty profile for them).

    Receivers must not change data: the recruiter may still cancel.
"""

from django.dispatch import Signal

enrollment_preflight = Signal()
