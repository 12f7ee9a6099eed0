"""The sync policy: should this message become a note in Greenhouse?

One pure function, `decide(facts)`, with no database or network access. It runs twice for each
message: when the sync record is written (with what is known locally) and again in the worker just
before the note is written (with the Greenhouse candidate resolved and the team's switches as they
are now). Its reason is stored on the sync record and shown to people ("why was this synced or
skipped?").
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Decision(StrEnum):
    SYNC = "sync"
    SKIP = "skip"
    HOLD = "hold"  # not now: goes out once the cause is fixed (connection, or a person's review)


class Reason(StrEnum):
    # sync
    SEQUENCE_EMAIL = "sequence_email"
    FIRST_REPLY = "first_reply"
    THREAD_MESSAGE = "thread_message"
    SMS = "sms"
    SMS_TRANSCRIPT = "sms_transcript"  # issue 16: one note per quiet-ended SMS conversation
    # skip
    TEAM_NOT_ENABLED = "team_not_enabled"
    SYNC_TURNED_OFF = "sync_turned_off"
    BEFORE_SYNC_ON = "before_sync_on"
    NOT_SEQUENCE_THREAD = "not_sequence_thread"
    CANDIDATE_PAUSED = "candidate_paused"
    NO_CANDIDATE = "no_candidate"
    MAILDROP_BCC = "maildrop_bcc"
    CANDIDATE_GONE = "candidate_gone"
    WAIT_EXPIRED = "wait_expired"  # issue 15: not in Greenhouse within the team's window
    PROSPECT_IGNORED = "prospect_ignored"  # issue 15: a person chose "never sync this prospect"
    EXCLUDED_ADDRESS = "excluded_address"  # issue 16: on the team's exclusion list
    INTERNAL_MAIL = "internal_mail"  # issue 16: between the team's own domains
    AUTOMATED_MAIL = "automated_mail"  # issue 16: auto-reply, bounce, no-reply sender
    REVIEW_DROPPED = "review_dropped"  # issue 16: the recruiter dropped a sensitive message
    REVIEW_EXPIRED = "review_expired"  # issue 16: nobody reviewed it in time; the team skips
    # hold
    CONNECTION_UNHEALTHY = "connection_unhealthy"
    GREENHOUSE_UNREACHABLE = "greenhouse_unreachable"
    SEVERAL_CANDIDATES = "several_candidates"
    CANDIDATE_NOT_FOUND = "candidate_not_found"
    NOT_IN_GREENHOUSE_YET = "not_in_greenhouse_yet"  # issue 15: looked up again on a schedule
    CANDIDATE_TO_CREATE = "candidate_to_create"  # issue 15: the team creates unknown recipients
    AWAITING_REVIEW = "awaiting_review"  # issue 16: sensitive words; a recruiter approves first

    @property
    def label(self) -> str:
        """A few words for lists and filters (the explanation says the whole reason)."""
        return LABELS[self]


# What lists and filters show for each reason, never the stored code (`no_candidate`, `sms`).
LABELS = {
    Reason.SEQUENCE_EMAIL: "Sequence email",
    Reason.FIRST_REPLY: "First reply",
    Reason.THREAD_MESSAGE: "Later thread message",
    Reason.SMS: "SMS",
    Reason.SMS_TRANSCRIPT: "SMS transcript",
    Reason.TEAM_NOT_ENABLED: "Not enabled by support",
    Reason.SYNC_TURNED_OFF: "Sync turned off",
    Reason.BEFORE_SYNC_ON: "Before sync was on",
    Reason.NOT_SEQUENCE_THREAD: "Not a sequence thread",
    Reason.CANDIDATE_PAUSED: "Candidate paused",
    Reason.NO_CANDIDATE: "No candidate",
    Reason.MAILDROP_BCC: "BCC'd to Maildrop",
    Reason.CANDIDATE_GONE: "Candidate gone",
    Reason.CONNECTION_UNHEALTHY: "Connection needs attention",
    Reason.GREENHOUSE_UNREACHABLE: "Greenhouse unreachable",
    Reason.SEVERAL_CANDIDATES: "Several candidates",
    Reason.CANDIDATE_NOT_FOUND: "Candidate not found",
    Reason.WAIT_EXPIRED: "Never appeared in Greenhouse",
    Reason.PROSPECT_IGNORED: "Prospect ignored",
    Reason.NOT_IN_GREENHOUSE_YET: "Not in Greenhouse yet",
    Reason.CANDIDATE_TO_CREATE: "Creating the candidate",
    Reason.EXCLUDED_ADDRESS: "Excluded address",
    Reason.INTERNAL_MAIL: "Internal mail",
    Reason.AUTOMATED_MAIL: "Automated mail",
    Reason.AWAITING_REVIEW: "Waiting for review",
    Reason.REVIEW_DROPPED: "Dropped in review",
    Reason.REVIEW_EXPIRED: "Not reviewed in time",
}


def reason_label(value: str) -> str:
    """The label of a stored reason; an unknown code (from a newer version) as it is."""
    try:
        return Reason(value).label
    except (ValueError, KeyError):
        return value


EXPLANATIONS = {
    Reason.SEQUENCE_EMAIL: "An email sent by a sequence.",
    Reason.FIRST_REPLY: "The candidate's first reply to a sequence email.",
    Reason.THREAD_MESSAGE: "A later message in a sequence's email thread.",
    Reason.SMS: "An SMS sent or received on a recruiter's virtual number.",
    Reason.SMS_TRANSCRIPT: (
        "An SMS sent or received on a recruiter's virtual number, written in a transcript note "
        "with the rest of its conversation once the conversation has been quiet for the "
        "team's set time."
    ),
    Reason.TEAM_NOT_ENABLED: "Support has not enabled Greenhouse sync for this team.",
    Reason.SYNC_TURNED_OFF: "A team admin turned Greenhouse sync off.",
    Reason.BEFORE_SYNC_ON: "The message is older than the moment sync was turned on.",
    Reason.NOT_SEQUENCE_THREAD: "Only sequence threads are synced; this email is outside one.",
    Reason.CANDIDATE_PAUSED: "Sync is paused for this candidate.",
    Reason.NO_CANDIDATE: "No Greenhouse candidate has this prospect's email address.",
    Reason.MAILDROP_BCC: (
        "This email was BCC'd to Greenhouse Maildrop, which logs its own copy (always public); "
        "the team chose not to write a second note for it."
    ),
    Reason.CANDIDATE_GONE: (
        "The Greenhouse candidate was merged away or deleted, and no candidate has this "
        "prospect's email address any more."
    ),
    Reason.CONNECTION_UNHEALTHY: "The Greenhouse connection needs attention; held until it works.",
    Reason.GREENHOUSE_UNREACHABLE: (
        "Greenhouse could not be reached; held, and written in order once it answers again."
    ),
    Reason.CANDIDATE_NOT_FOUND: (
        "Greenhouse says this prospect's candidate does not exist, yet still finds it by email; "
        "held for a person to check the candidate."
    ),
    Reason.SEVERAL_CANDIDATES: (
        "Several Greenhouse candidates share this email address; held for a person to choose."
    ),
    Reason.NOT_IN_GREENHOUSE_YET: (
        "No Greenhouse candidate has this prospect's email addresses yet. The app looks again on "
        "a schedule, and writes the waiting messages in order once the candidate appears, or "
        "when a person links or creates the candidate in the review queue."
    ),
    Reason.WAIT_EXPIRED: (
        "The prospect did not appear in Greenhouse within the team's waiting window, and nobody "
        "linked or created the candidate."
    ),
    Reason.PROSPECT_IGNORED: "A person chose never to sync this prospect (review queue).",
    Reason.EXCLUDED_ADDRESS: "An address or domain on the team's exclusion list; never synced.",
    Reason.INTERNAL_MAIL: (
        "Mail within the team's own domains (internal mail) is never written to Greenhouse."
    ),
    Reason.AUTOMATED_MAIL: (
        "An automated message (an auto-reply, a bounce or a no-reply sender) is not written."
    ),
    Reason.AWAITING_REVIEW: (
        "The message contains words the team marked as sensitive; it waits for the recruiter to "
        "approve, edit or drop it before anything is written."
    ),
    Reason.REVIEW_DROPPED: "The recruiter dropped this sensitive message in review.",
    Reason.REVIEW_EXPIRED: (
        "Nobody reviewed this sensitive message within the team's review time, and the team "
        "chose to skip such messages."
    ),
    Reason.CANDIDATE_TO_CREATE: (
        "No Greenhouse candidate has this prospect's email addresses; the team creates unknown "
        "recipients in Greenhouse, so the candidate is created first and the note written then."
    ),
}


class UnknownRecipients(StrEnum):
    """What a team does with a prospect no Greenhouse candidate matches (issue 15)."""

    WAIT = "wait"  # wait (looked up again on a schedule) and list in the review queue
    CREATE = "create"  # create the candidate in Greenhouse, after a dedupe check by every email
    SKIP = "skip"  # skip the message for good, as before issue 15


class Exclusion(StrEnum):
    """Why a message is outside what the team syncs, whoever the candidate is (issue 16)."""

    NONE = ""
    LISTED = "listed"  # an address or domain on the team's list
    INTERNAL = "internal"  # the team's own domains
    AUTOMATED = "automated"  # Auto-Submitted / X-Autoreply, a bounce, a no-reply sender


class Review(StrEnum):
    """Where a sensitive message stands in the recruiter's review (issue 16)."""

    NOT_NEEDED = ""  # no sensitive word or pattern matched
    PENDING = "pending"
    APPROVED = "approved"  # as it is, or with the note text edited
    DROPPED = "dropped"
    EXPIRED_WRITE = "expired_write"  # the review time passed; the team writes such messages
    EXPIRED_SKIP = "expired_skip"  # the review time passed; the team skips them


class CandidateMatch(StrEnum):
    UNKNOWN = "unknown"  # not looked up yet
    ONE = "one"
    NONE = "none"
    SEVERAL = "several"
    GONE = "gone"  # the linked candidate answered 404 and no candidate has the emails now
    NOT_FOUND = "not_found"  # answered 404, yet the email search finds the same candidate


@dataclass(frozen=True)
class SyncFacts:
    channel: str  # "email" or "sms"
    direction: str  # "outbound" or "inbound"
    message_created_at: datetime
    in_sequence_thread: bool  # the email thread was started by a sequence
    earlier_inbound_in_thread: bool  # the thread already holds a reply from the candidate
    team_enabled_by_support: bool
    team_sync_on: bool
    team_sync_on_since: datetime | None
    connection_healthy: bool
    candidate_paused: bool
    greenhouse_unreachable: bool = False  # why the connection is unhealthy: an outage
    candidate_match: CandidateMatch = CandidateMatch.UNKNOWN
    bcc_maildrop: bool = False  # the email went out with a Greenhouse Maildrop address in BCC
    team_skips_maildrop_copies: bool = False  # the team's choice for such emails: no sync note
    # Issue 15. The defaults keep the behaviour before it until the facts builder supplies them.
    unknown_recipients: UnknownRecipients = UnknownRecipients.SKIP  # the team's choice
    waiting_expired: bool = False  # the message is older than the team's waiting window
    prospect_ignored: bool = False  # a person chose "never sync this prospect"
    backfill: bool = False  # a backfill asked for this message: "before sync was on" lifted
    # Issue 16.
    exclusion: Exclusion = Exclusion.NONE
    review: Review = Review.NOT_NEEDED
    sms_transcript: bool = False  # the team writes SMS as one transcript note per conversation


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: Reason

    @property
    def explanation(self) -> str:
        return EXPLANATIONS[self.reason]


def decide(facts: SyncFacts) -> Verdict:
    # The team's switches come first: nothing is written for a team that has not opted in.
    if not facts.team_enabled_by_support:
        return Verdict(Decision.SKIP, Reason.TEAM_NOT_ENABLED)
    if not facts.team_sync_on:
        return Verdict(Decision.SKIP, Reason.SYNC_TURNED_OFF)
    if (
        facts.team_sync_on_since
        and facts.message_created_at < facts.team_sync_on_since
        and not facts.backfill
    ):
        return Verdict(Decision.SKIP, Reason.BEFORE_SYNC_ON)

    # What is in scope: all SMS on a virtual number; email only inside a sequence's thread.
    if facts.channel == "sms":
        reason = Reason.SMS_TRANSCRIPT if facts.sms_transcript else Reason.SMS
    elif not facts.in_sequence_thread:
        return Verdict(Decision.SKIP, Reason.NOT_SEQUENCE_THREAD)
    elif facts.direction == "inbound" and not facts.earlier_inbound_in_thread:
        reason = Reason.FIRST_REPLY
    elif facts.direction == "outbound" and not facts.earlier_inbound_in_thread:
        reason = Reason.SEQUENCE_EMAIL
    else:
        reason = Reason.THREAD_MESSAGE

    # Maildrop already logs every email BCC'd to it: the team may not want it twice.
    if facts.channel == "email" and facts.bcc_maildrop and facts.team_skips_maildrop_copies:
        return Verdict(Decision.SKIP, Reason.MAILDROP_BCC)
    # The team's exclusions: internal mail, automated senders, the listed addresses and domains.
    if facts.exclusion == Exclusion.INTERNAL:
        return Verdict(Decision.SKIP, Reason.INTERNAL_MAIL)
    if facts.exclusion == Exclusion.AUTOMATED:
        return Verdict(Decision.SKIP, Reason.AUTOMATED_MAIL)
    if facts.exclusion == Exclusion.LISTED:
        return Verdict(Decision.SKIP, Reason.EXCLUDED_ADDRESS)
    if facts.prospect_ignored:
        return Verdict(Decision.SKIP, Reason.PROSPECT_IGNORED)
    if facts.candidate_paused:
        return Verdict(Decision.SKIP, Reason.CANDIDATE_PAUSED)
    if not facts.connection_healthy:
        if facts.greenhouse_unreachable:
            return Verdict(Decision.HOLD, Reason.GREENHOUSE_UNREACHABLE)
        return Verdict(Decision.HOLD, Reason.CONNECTION_UNHEALTHY)
    if facts.candidate_match == CandidateMatch.NONE:
        if facts.unknown_recipients == UnknownRecipients.SKIP:
            return Verdict(Decision.SKIP, Reason.NO_CANDIDATE)
        if facts.waiting_expired:
            return Verdict(Decision.SKIP, Reason.WAIT_EXPIRED)
        if facts.unknown_recipients == UnknownRecipients.CREATE:
            return Verdict(Decision.HOLD, Reason.CANDIDATE_TO_CREATE)
        return Verdict(Decision.HOLD, Reason.NOT_IN_GREENHOUSE_YET)
    if facts.candidate_match == CandidateMatch.GONE:
        return Verdict(Decision.SKIP, Reason.CANDIDATE_GONE)
    if facts.candidate_match == CandidateMatch.SEVERAL:
        return Verdict(Decision.HOLD, Reason.SEVERAL_CANDIDATES)
    if facts.candidate_match == CandidateMatch.NOT_FOUND:
        return Verdict(Decision.HOLD, Reason.CANDIDATE_NOT_FOUND)
    # Sensitive mail waits for a person last: only what would be written now is put to review.
    if facts.review == Review.PENDING:
        return Verdict(Decision.HOLD, Reason.AWAITING_REVIEW)
    if facts.review == Review.DROPPED:
        return Verdict(Decision.SKIP, Reason.REVIEW_DROPPED)
    if facts.review == Review.EXPIRED_SKIP:
        return Verdict(Decision.SKIP, Reason.REVIEW_EXPIRED)
    return Verdict(Decision.SYNC, reason)
