from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from apps.greenhouse.policy import (
    EXPLANATIONS,
    CandidateMatch,
    Decision,
    Exclusion,
    Reason,
    Review,
    SyncFacts,
    UnknownRecipients,
    decide,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

SEQUENCE_EMAIL = SyncFacts(
    channel="email",
    direction="outbound",
    message_created_at=NOW,
    in_sequence_thread=True,
    earlier_inbound_in_thread=False,
    team_enabled_by_support=True,
    team_sync_on=True,
    team_sync_on_since=NOW - timedelta(days=1),
    connection_healthy=True,
    candidate_paused=False,
    candidate_match=CandidateMatch.ONE,
)


def verdict(**changes):
    v = decide(replace(SEQUENCE_EMAIL, **changes))
    return v.decision, v.reason


def test_every_outbound_sequence_email_is_synced():
    assert verdict() == (Decision.SYNC, Reason.SEQUENCE_EMAIL)


def test_the_first_reply_to_a_sequence_email_is_synced():
    assert verdict(direction="inbound") == (Decision.SYNC, Reason.FIRST_REPLY)


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
def test_later_messages_of_the_thread_are_synced_in_either_direction(direction):
    assert verdict(direction=direction, earlier_inbound_in_thread=True) == (
        Decision.SYNC,
        Reason.THREAD_MESSAGE,
    )


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
@pytest.mark.parametrize("in_sequence", [True, False])
def test_every_sms_on_a_virtual_number_is_synced(direction, in_sequence):
    assert verdict(channel="sms", direction=direction, in_sequence_thread=in_sequence) == (
        Decision.SYNC,
        Reason.SMS,
    )


def test_an_email_outside_any_sequence_thread_is_skipped():
    assert verdict(in_sequence_thread=False) == (Decision.SKIP, Reason.NOT_SEQUENCE_THREAD)


def test_nothing_syncs_for_a_team_support_has_not_enabled():
    assert verdict(team_enabled_by_support=False) == (Decision.SKIP, Reason.TEAM_NOT_ENABLED)


def test_nothing_syncs_once_the_team_admin_turned_sync_off():
    assert verdict(team_sync_on=False) == (Decision.SKIP, Reason.SYNC_TURNED_OFF)


def test_a_paused_candidate_is_skipped_on_both_channels():
    assert verdict(candidate_paused=True) == (Decision.SKIP, Reason.CANDIDATE_PAUSED)
    assert verdict(channel="sms", candidate_paused=True) == (Decision.SKIP, Reason.CANDIDATE_PAUSED)


def test_no_matching_candidate_is_skipped_when_the_team_skips_unknown_recipients():
    assert verdict(
        candidate_match=CandidateMatch.NONE, unknown_recipients=UnknownRecipients.SKIP
    ) == (Decision.SKIP, Reason.NO_CANDIDATE)


def test_no_matching_candidate_waits_when_the_team_waits_for_unknown_recipients():
    none = {"candidate_match": CandidateMatch.NONE, "unknown_recipients": UnknownRecipients.WAIT}
    assert verdict(**none) == (Decision.HOLD, Reason.NOT_IN_GREENHOUSE_YET)
    assert verdict(channel="sms", **none) == (Decision.HOLD, Reason.NOT_IN_GREENHOUSE_YET)


def test_a_wait_that_outlived_the_teams_window_is_skipped_with_that_reason():
    assert verdict(
        candidate_match=CandidateMatch.NONE,
        unknown_recipients=UnknownRecipients.WAIT,
        waiting_expired=True,
    ) == (Decision.SKIP, Reason.WAIT_EXPIRED)
    # A found candidate is written whatever the age: the window is for the wait only.
    assert verdict(waiting_expired=True) == (Decision.SYNC, Reason.SEQUENCE_EMAIL)


def test_a_team_that_creates_unknown_recipients_holds_for_the_creation():
    assert verdict(
        candidate_match=CandidateMatch.NONE, unknown_recipients=UnknownRecipients.CREATE
    ) == (Decision.HOLD, Reason.CANDIDATE_TO_CREATE)
    # Several candidates are never "unknown": a person chooses, nothing is created.
    assert verdict(
        candidate_match=CandidateMatch.SEVERAL, unknown_recipients=UnknownRecipients.CREATE
    ) == (Decision.HOLD, Reason.SEVERAL_CANDIDATES)


def test_an_ignored_prospect_is_never_synced_nor_waits():
    assert verdict(prospect_ignored=True) == (Decision.SKIP, Reason.PROSPECT_IGNORED)
    assert verdict(
        prospect_ignored=True,
        candidate_match=CandidateMatch.NONE,
        unknown_recipients=UnknownRecipients.WAIT,
    ) == (Decision.SKIP, Reason.PROSPECT_IGNORED)


def test_a_backfill_lifts_before_sync_on_and_nothing_else():
    old = NOW - timedelta(days=2)
    assert verdict(message_created_at=old, backfill=True) == (Decision.SYNC, Reason.SEQUENCE_EMAIL)
    assert verdict(message_created_at=old, backfill=True, candidate_paused=True) == (
        Decision.SKIP,
        Reason.CANDIDATE_PAUSED,
    )
    assert verdict(message_created_at=old, backfill=True, team_sync_on=False) == (
        Decision.SKIP,
        Reason.SYNC_TURNED_OFF,
    )


def test_several_matching_candidates_are_held_for_review_not_guessed():
    assert verdict(candidate_match=CandidateMatch.SEVERAL) == (
        Decision.HOLD,
        Reason.SEVERAL_CANDIDATES,
    )


def test_a_message_from_before_sync_was_turned_on_is_skipped():
    assert verdict(message_created_at=NOW - timedelta(days=2)) == (
        Decision.SKIP,
        Reason.BEFORE_SYNC_ON,
    )


def test_an_unhealthy_connection_holds_rather_than_skips():
    assert verdict(connection_healthy=False) == (Decision.HOLD, Reason.CONNECTION_UNHEALTHY)


def test_an_unresolved_candidate_does_not_stop_the_sync_from_proceeding():
    # At record time the candidate is not looked up yet; the worker resolves it and decides again.
    assert verdict(candidate_match=CandidateMatch.UNKNOWN) == (Decision.SYNC, Reason.SEQUENCE_EMAIL)


def test_team_switches_win_over_everything_else():
    facts = dict(
        team_sync_on=False,
        candidate_paused=True,
        connection_healthy=False,
        in_sequence_thread=False,
    )
    assert verdict(**facts) == (Decision.SKIP, Reason.SYNC_TURNED_OFF)


def test_every_reason_has_an_explanation_for_people():
    assert set(EXPLANATIONS) == set(Reason)


# --- Sync and a Maildrop BCC on the same emails ---------------------------------------------------


@pytest.mark.parametrize("earlier_inbound", [False, True])
def test_an_email_bccd_to_maildrop_is_skipped_when_the_team_chose_so(earlier_inbound):
    facts = dict(bcc_maildrop=True, team_skips_maildrop_copies=True)
    assert verdict(earlier_inbound_in_thread=earlier_inbound, **facts) == (
        Decision.SKIP,
        Reason.MAILDROP_BCC,
    )


def test_an_email_bccd_to_maildrop_is_synced_when_the_team_writes_both():
    assert verdict(bcc_maildrop=True, team_skips_maildrop_copies=False) == (
        Decision.SYNC,
        Reason.SEQUENCE_EMAIL,
    )


def test_the_maildrop_choice_leaves_emails_without_the_bcc_alone():
    assert verdict(bcc_maildrop=False, team_skips_maildrop_copies=True) == (
        Decision.SYNC,
        Reason.SEQUENCE_EMAIL,
    )
    # Replies are not BCC'd by us, so Maildrop never sees them: they are still synced.
    assert verdict(direction="inbound", team_skips_maildrop_copies=True) == (
        Decision.SYNC,
        Reason.FIRST_REPLY,
    )


def test_an_sms_is_never_skipped_for_maildrop():
    facts = dict(channel="sms", bcc_maildrop=True, team_skips_maildrop_copies=True)
    assert verdict(**facts) == (Decision.SYNC, Reason.SMS)


def test_the_team_switches_and_scope_come_before_the_maildrop_choice():
    facts = dict(bcc_maildrop=True, team_skips_maildrop_copies=True)
    assert verdict(team_sync_on=False, **facts) == (Decision.SKIP, Reason.SYNC_TURNED_OFF)
    assert verdict(in_sequence_thread=False, **facts) == (
        Decision.SKIP,
        Reason.NOT_SEQUENCE_THREAD,
    )
    # Maildrop has the email whatever the connection's state: nothing to hold it for.
    assert verdict(connection_healthy=False, **facts) == (Decision.SKIP, Reason.MAILDROP_BCC)


def test_the_maildrop_reason_says_the_copy_is_public():
    explanation = EXPLANATIONS[Reason.MAILDROP_BCC]
    assert "Maildrop" in explanation and "public" in explanation


# --- Reasons of issue 12: a candidate that is gone, an outage -----------------------------------


def test_a_candidate_merged_away_or_deleted_with_no_other_match_is_skipped_with_that_reason():
    assert verdict(candidate_match=CandidateMatch.GONE) == (Decision.SKIP, Reason.CANDIDATE_GONE)
    assert "merged away or deleted" in EXPLANATIONS[Reason.CANDIDATE_GONE]


def test_a_candidate_that_answers_404_yet_is_still_found_by_email_waits_for_a_person():
    assert verdict(candidate_match=CandidateMatch.NOT_FOUND) == (
        Decision.HOLD,
        Reason.CANDIDATE_NOT_FOUND,
    )
    assert "held for a person" in EXPLANATIONS[Reason.CANDIDATE_NOT_FOUND]


def test_an_unreachable_greenhouse_holds_records_for_the_outage_not_for_the_credential():
    assert verdict(connection_healthy=False, greenhouse_unreachable=True) == (
        Decision.HOLD,
        Reason.GREENHOUSE_UNREACHABLE,
    )
    assert verdict(connection_healthy=False) == (Decision.HOLD, Reason.CONNECTION_UNHEALTHY)
    assert "could not be reached" in EXPLANATIONS[Reason.GREENHOUSE_UNREACHABLE]


def test_the_switches_still_come_before_an_outage_or_a_gone_candidate():
    assert verdict(team_sync_on=False, connection_healthy=False, greenhouse_unreachable=True) == (
        Decision.SKIP,
        Reason.SYNC_TURNED_OFF,
    )
    assert verdict(candidate_paused=True, candidate_match=CandidateMatch.GONE) == (
        Decision.SKIP,
        Reason.CANDIDATE_PAUSED,
    )


@pytest.mark.parametrize(
    "reason",
    [Reason.CANDIDATE_GONE, Reason.CANDIDATE_NOT_FOUND, Reason.GREENHOUSE_UNREACHABLE],
)
def test_each_new_reason_reads_as_a_plain_sentence(reason):
    text = EXPLANATIONS[reason]
    assert text[0].isupper() and text.endswith(".")
    assert "_" not in text and "404" not in text


@pytest.mark.parametrize(
    "exclusion, reason",
    [
        (Exclusion.INTERNAL, Reason.INTERNAL_MAIL),
        (Exclusion.AUTOMATED, Reason.AUTOMATED_MAIL),
        (Exclusion.LISTED, Reason.EXCLUDED_ADDRESS),
    ],
)
def test_excluded_mail_is_skipped_on_both_directions_with_its_own_reason(exclusion, reason):
    assert verdict(exclusion=exclusion) == (Decision.SKIP, reason)
    assert verdict(exclusion=exclusion, direction="inbound") == (Decision.SKIP, reason)
    # Excluded mail never waits for a candidate or a review: it is out of scope for good.
    assert verdict(
        exclusion=exclusion, candidate_match=CandidateMatch.NONE, review=Review.PENDING
    ) == (Decision.SKIP, reason)


def test_a_team_that_is_off_says_so_before_any_exclusion():
    assert verdict(exclusion=Exclusion.INTERNAL, team_sync_on=False) == (
        Decision.SKIP,
        Reason.SYNC_TURNED_OFF,
    )


def test_a_sensitive_message_waits_for_review_then_follows_the_review():
    assert verdict(review=Review.PENDING) == (Decision.HOLD, Reason.AWAITING_REVIEW)
    assert verdict(review=Review.APPROVED) == (Decision.SYNC, Reason.SEQUENCE_EMAIL)
    assert verdict(review=Review.DROPPED) == (Decision.SKIP, Reason.REVIEW_DROPPED)
    assert verdict(review=Review.EXPIRED_SKIP) == (Decision.SKIP, Reason.REVIEW_EXPIRED)
    assert verdict(review=Review.EXPIRED_WRITE) == (Decision.SYNC, Reason.SEQUENCE_EMAIL)


def test_review_comes_after_what_would_stop_the_note_anyway():
    assert verdict(review=Review.PENDING, candidate_paused=True) == (
        Decision.SKIP,
        Reason.CANDIDATE_PAUSED,
    )
    assert verdict(review=Review.PENDING, connection_healthy=False) == (
        Decision.HOLD,
        Reason.CONNECTION_UNHEALTHY,
    )
