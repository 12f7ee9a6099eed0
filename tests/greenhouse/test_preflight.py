"""Before enrolling prospects in a sequence that BCCs Greenhouse Maildrop: warn about prospects
Greenhouse does not know (it would create an empty profile for each)."""

import pytest
from django.apps import apps as django_apps

from apps.greenhouse.connection import greenhouse_integration_record_check
from apps.greenhouse.models import GreenhouseIntegration
from apps.greenhouse.not_in_greenhouse import review_queue_url
from apps.greenhouse.signals import enrollment_preflight_warnings
from apps.sequences.models import Sequence
from apps.sequences.signals import enrollment_preflight
from tests.sequences.factories import ProspectEmailFactory, ProspectFactory, SequenceFactory


@pytest.fixture
def healthy(integration):
    return greenhouse_integration_record_check(integration=integration)


def prospect(team, first, last, *emails):
    person = ProspectFactory(team=team, first_name=first, last_name=last)
    for position, email in enumerate(emails):
        ProspectEmailFactory(prospect=person, email=email, is_primary=position == 0)
    return person


@pytest.fixture
def people(team):
    return [
        prospect(team, "Grace", "Hopper", "grace.hopper@example.com"),
        prospect(team, "Linus", "Unknown", "linus.unknown@example.com"),
        prospect(team, "No", "Email"),
    ]


def warnings_for(team, prospects, bcc="maildrop@greenhouse.io"):
    sequence = SequenceFactory(team=team, bcc=bcc)
    return enrollment_preflight_warnings(Sequence, sequence=sequence, prospects=prospects)


def test_prospects_greenhouse_does_not_know_are_named(healthy, team, people):
    warnings = warnings_for(team, people)
    assert warnings[0] == (
        "Linus Unknown (linus.unknown@example.com) has no Greenhouse candidate. "
        "Greenhouse would create an empty profile."
    )
    # Then once more, with the review queue's link (issue 15, item 5).
    assert warnings[1:] == [
        f'Not in Greenhouse yet: Linus Unknown. <a href="{review_queue_url()}">Review queue →</a> '
        "to link, create or ignore them before you enroll."
    ]


def test_cluster_maildrop_addresses_count_too(healthy, team, people):
    assert len(warnings_for(team, people, bcc="boss@acme.example, maildrop@ivy.greenhouse.io")) == 2


def test_a_candidate_known_only_by_another_address_is_explained(healthy, team, harvest_sandbox):
    person = prospect(team, "Alan", "Turing", "alan@newmail.example", "alan.turing@example.com")

    [warning] = warnings_for(team, [person])

    assert "knows alan.turing@example.com but not alan@newmail.example" in warning


def test_nothing_to_check_without_a_maildrop_bcc(healthy, team, people, harvest_sandbox):
    assert warnings_for(team, people, bcc="boss@acme.example") == []
    assert harvest_sandbox.requests() == []


def test_nothing_to_check_without_an_integration(team, people, harvest_sandbox):
    assert warnings_for(team, people) == []


def test_an_integration_that_needs_attention_gives_one_warning_and_no_calls(
    integration, team, people, harvest_sandbox
):
    greenhouse_integration_record_check(integration=integration, error="Bad credentials")

    [warning] = warnings_for(team, people)

    assert "needs attention" in warning and "empty profile" in warning
    assert harvest_sandbox.requests() == []


def test_greenhouse_being_down_is_a_warning_not_an_exception(
    healthy, team, people, harvest_sandbox
):
    harvest_sandbox.set_faults(down=True)

    [warning] = warnings_for(team, people)

    assert warning.startswith(
        "Could not check Greenhouse for existing candidates: Host unreachable"
    )
    assert warning.endswith("so check them in Greenhouse first.")
    assert healthy.health == GreenhouseIntegration.Health.OK  # a warning; the health is not checked


def our_results(sequence, prospects):
    results = enrollment_preflight.send_robust(
        sender=Sequence, sequence=sequence, prospects=prospects
    )
    return [result for receiver, result in results if receiver is enrollment_preflight_warnings]


def test_the_receiver_is_connected_to_the_sequences_signal(healthy, team, people):
    sequence = SequenceFactory(team=team, bcc="maildrop@greenhouse.io")

    assert our_results(sequence, people) == [warnings_for(team, people)]


def test_the_app_starts_without_the_sequences_signal_module(monkeypatch, team):
    config = django_apps.get_app_config("greenhouse")
    sequence = SequenceFactory(team=team)
    enrollment_preflight.disconnect(dispatch_uid="greenhouse.enrollment_preflight_warnings")
    try:
        monkeypatch.setattr("apps.greenhouse.apps.find_spec", lambda name: None)
        config.ready()  # nothing to connect to, and no error
        assert our_results(sequence, []) == []
    finally:
        monkeypatch.undo()
        config.ready()
    assert our_results(sequence, []) == [[]]


# --- Not in Greenhouse yet (issue 15, item 5) ----------------------------------------------------


def not_in_greenhouse_world(team, integration):
    """Linus: looked up, not found (link "none"); Ada: a message held "not in Greenhouse yet";
    Grace: linked to a candidate."""
    from apps.greenhouse.policy import CandidateMatch, Reason
    from tests.greenhouse.factories import CandidateLinkFactory, SyncRecordFactory
    from tests.messaging.factories import MessageFactory, ThreadFactory

    grace = prospect(team, "Grace", "Hopper", "grace.hopper@example.com")
    linus = prospect(team, "Linus", "Unknown", "linus.unknown@example.com")
    ada = prospect(team, "Ada", "Newcomer", "ada.newcomer@example.com")
    CandidateLinkFactory(prospect=grace)
    CandidateLinkFactory(prospect=linus, match=CandidateMatch.NONE, candidate_id=None)
    thread = ThreadFactory(team=team, prospect=ada)
    SyncRecordFactory(
        message=MessageFactory(thread=thread),
        status="held",
        reason=Reason.NOT_IN_GREENHOUSE_YET,
    )
    return grace, linus, ada


def test_the_prospects_not_in_greenhouse_yet_are_known_by_link_or_held_record(team, integration):
    from apps.greenhouse.not_in_greenhouse import prospects_not_in_greenhouse_yet

    grace, linus, ada = not_in_greenhouse_world(team, integration)
    found = prospects_not_in_greenhouse_yet(
        team_id=team.pk, prospect_ids=[grace.pk, linus.pk, ada.pk]
    )
    assert found == {linus.pk, ada.pk}
    other = SequenceFactory().team
    assert prospects_not_in_greenhouse_yet(team_id=other.pk, prospect_ids=[linus.pk]) == set()


def test_the_review_queue_link_falls_back_to_the_log_filtered_by_the_reason():
    from django.urls import NoReverseMatch, reverse

    try:
        expected = reverse("greenhouse:review")
    except NoReverseMatch:
        expected = "/team/greenhouse/log/?reason=not_in_greenhouse_yet"
    assert review_queue_url() == expected


def test_the_enrollment_page_names_the_prospects_not_in_greenhouse_yet(team, integration, client):
    from apps.teams.models import Membership

    not_in_greenhouse_world(team, integration)
    sequence = SequenceFactory(team=team, bcc="")  # no Maildrop: the panel shows all the same
    recruiter = Membership.objects.get(team=team, role=Membership.Role.RECRUITER).user
    client.force_login(recruiter)

    page = client.get(f"/sequences/{sequence.pk}/enroll/").content.decode()

    assert "data-enroll-not-in-greenhouse" in page
    assert "Not in Greenhouse yet:</strong> Ada Newcomer, Linus Unknown." in page
    assert f'href="{review_queue_url()}"' in page
    assert "Grace Hopper," not in page.split("data-enroll-not-in-greenhouse")[1].split("</div>")[0]


def test_the_candidate_page_says_a_prospect_is_not_in_greenhouse_yet(team, integration, client):
    from apps.teams.models import Membership

    grace, linus, _ = not_in_greenhouse_world(team, integration)
    client.force_login(Membership.objects.get(team=team, role=Membership.Role.RECRUITER).user)

    page = client.get(f"/prospects/{linus.pk}/sync/").content.decode()
    assert "data-not-in-greenhouse" in page and f'href="{review_queue_url()}"' in page
    panel = client.get(f"/prospects/{linus.pk}/").content.decode()
    assert "data-not-in-greenhouse" in panel
    linked = client.get(f"/prospects/{grace.pk}/sync/").content.decode()
    assert "data-not-in-greenhouse" not in linked


def test_the_review_line_escapes_the_names_it_links(healthy, team):
    evil = prospect(team, "<b>Eve</b>", "Unknown", "eve.unknown@example.com")

    warnings = warnings_for(team, [evil])

    assert warnings[-1].startswith("Not in Greenhouse yet: &lt;b&gt;Eve&lt;/b&gt; Unknown. <a href")
