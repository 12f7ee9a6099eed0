"""Before enrolling prospects in a sequence that BCCs Greenhouse Maildrop: warn about prospects
Greenhouse does not know (it would create an empty profile for each)."""

import pytest
from django.apps import apps as django_apps

from apps.greenhouse.connection import greenhouse_integration_record_check
from apps.greenhouse.models import GreenhouseIntegration
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
    assert warnings_for(team, people) == [
        "Linus Unknown (linus.unknown@example.com) has no Greenhouse candidate. "
        "Greenhouse would create an empty profile."
    ]


def test_cluster_maildrop_addresses_count_too(healthy, team, people):
    assert len(warnings_for(team, people, bcc="boss@acme.example, maildrop@ivy.greenhouse.io")) == 1


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
