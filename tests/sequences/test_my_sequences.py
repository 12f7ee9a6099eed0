"""A recruiter's own sequences and their enrollments, each with the BCC it was enrolled with."""

import pytest
from django.urls import reverse

from apps.sequences.services import sequence_update
from tests.sequences.factories import EnrollmentFactory, SequenceFactory
from tests.teams.factories import TeamFactory, recruiter

pytestmark = pytest.mark.django_db


def test_my_sequences_lists_mine_and_each_enrollments_bcc(client):
    team = TeamFactory()
    rob, eve = recruiter(team), recruiter(team)
    mine = SequenceFactory(team=team, owner=rob, name="Backend", bcc="maildrop@greenhouse.io")
    theirs = SequenceFactory(team=team, owner=eve, name="Design")
    early = EnrollmentFactory(sequence=mine)
    sequence_update(sequence=mine, name="Backend", bcc="", is_active=True)
    mine.refresh_from_db()
    late = EnrollmentFactory(sequence=mine)
    EnrollmentFactory(sequence=theirs)
    client.force_login(rob)

    response = client.get(reverse("sequences:sequence-list"))
    assert [s.pk for s in response.context["sequences"]] == [mine.pk]
    assert [(e.pk, e.bcc) for e in response.context["enrollments"]] == [
        (late.pk, ""),
        (early.pk, "maildrop@greenhouse.io"),
    ]
    html = response.content.decode()
    assert "maildrop@greenhouse.io" in html and "no BCC" in html

    response = client.get(reverse("sequences:sequence-list"), {"show": "all"})
    assert {s.pk for s in response.context["sequences"]} == {mine.pk, theirs.pk}
    assert response.context["enrollments"] is None


def test_my_sequences_when_i_have_none(client):
    client.force_login(recruiter())
    html = client.get(reverse("sequences:sequence-list")).content.decode()
    assert "No sequences yet" in html and "?show=all" in html
