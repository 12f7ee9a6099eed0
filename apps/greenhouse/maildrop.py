"""Activity sync and a Greenhouse Maildrop BCC on the same emails: what people are told.

The help article presents the two as alternatives, yet nothing stops a team from using both: a
sequence that BCCs maildrop@greenhouse.io while the sync is on would put every outgoing email in
Greenhouse twice, and Maildrop's copy is public whatever visibility the team chose for the sync's
notes. So the team chooses (GreenhouseIntegration.maildrop_overlap; the policy skips with the
reason `maildrop_bcc`), and every page where a Maildrop BCC is set or used says so while the sync
is on: the team default BCC, a sequence's BCC, the enrollment page (page_extensions.py).

Skipping is the default: the duplicate goes, and writing both would keep nothing private that
Maildrop has not already made public. It does not make Maildrop's copy private; only removing
the BCC does, and the pages say so.
"""

from .models import GreenhouseIntegration, MaildropOverlap

MAILDROP_IS_PUBLIC = (
    "Greenhouse Maildrop logs its copy of each email as a public note, visible to everyone with "
    "access to the candidate (usually including interviewers), whatever visibility your team "
    "chose for the sync's notes."
)

CONSEQUENCES: dict[str, str] = {
    MaildropOverlap.SKIP_SYNC_NOTE: (
        "Each email BCC'd to Maildrop appears once in Greenhouse, as Maildrop's public copy: the "
        "sync writes no note for it (its log says why). This avoids the duplicate but does not "
        "make Maildrop's copy private. The candidate's replies and SMS are still synced."
    ),
    MaildropOverlap.WRITE_BOTH: (
        "Each email BCC'd to Maildrop appears twice in Greenhouse: Maildrop's public copy and the "
        "sync's note, with the visibility chosen above."
    ),
}

TO_KEEP_EMAILS_PRIVATE = (
    "To keep emails private, don't BCC Maildrop: remove it from the team default BCC and from "
    "the sequences that use it (prospects already enrolled keep the BCC they were enrolled with)."
)


def sync_is_live(integration: GreenhouseIntegration | None) -> bool:
    """Whether the sync writes notes now (support enabled it and a team admin turned it on)."""
    return bool(integration and integration.sync_enabled_by_support and integration.sync_on)
