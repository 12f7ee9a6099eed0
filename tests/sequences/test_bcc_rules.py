"""The BCC Maildrop rules of the spec: the team default reaches new sequences only, and a sequence's
BCC reaches prospects enrolled after the change only."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.sequences.models import Enrollment, Sequence
from apps.sequences.services import prospects_enroll, sequence_create, sequence_update
from apps.teams.bcc import is_greenhouse_maildrop
from apps.teams.services import team_default_bcc_set
from tests.sequences.factories import ProspectFactory
from tests.teams.factories import TeamFactory, recruiter

pytestmark = pytest.mark.django_db


def test_a_new_sequence_copies_the_team_default_and_keeps_it():
    team = TeamFactory()
    owner = recruiter(team)
    team_default_bcc_set(team=team, default_bcc="maildrop@greenhouse.io")
    first = sequence_create(team=team, owner=owner, name="First")
    assert first.bcc == "maildrop@greenhouse.io"

    team_default_bcc_set(team=team, default_bcc="maildrop@ivy.greenhouse.io")
    second = sequence_create(team=team, owner=owner, name="Second")
    first.refresh_from_db()
    assert first.bcc == "maildrop@greenhouse.io"  # existing sequences are left alone
    assert second.bcc == "maildrop@ivy.greenhouse.io"

    team_default_bcc_set(team=team, default_bcc="")
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.bcc, second.bcc) == ("maildrop@greenhouse.io", "maildrop@ivy.greenhouse.io")
    assert sequence_create(team=team, owner=owner, name="Third").bcc == ""


def test_an_explicit_bcc_wins_over_the_default():
    team = TeamFactory(default_bcc="maildrop@greenhouse.io")
    sequence = sequence_create(team=team, owner=recruiter(team), name="S", bcc="")
    assert sequence.bcc == ""


def test_editing_a_sequence_bcc_reaches_later_enrollments_only():
    team = TeamFactory(default_bcc="maildrop@greenhouse.io")
    owner = recruiter(team)
    sequence = sequence_create(
        team=team, owner=owner, name="S", steps=[{"subject_template": "Hi", "body_template": "x"}]
    )
    early, late = ProspectFactory(team=team), ProspectFactory(team=team)
    prospects_enroll(sequence=sequence, prospects=[early], enrolled_by=owner)
    sequence_update(sequence=sequence, bcc="Audit@Acme.example; maildrop@ivy.greenhouse.io")
    prospects_enroll(sequence=sequence, prospects=[late], enrolled_by=owner)

    assert Enrollment.objects.get(prospect=early).bcc == "maildrop@greenhouse.io"
    assert Enrollment.objects.get(prospect=late).bcc == (
        "audit@acme.example, maildrop@ivy.greenhouse.io"
    )
    assert Enrollment.objects.get(prospect=late).bcc_list == [
        "audit@acme.example",
        "maildrop@ivy.greenhouse.io",
    ]


def test_invalid_bcc_addresses_are_refused():
    team = TeamFactory()
    with pytest.raises(ValidationError):
        team_default_bcc_set(team=team, default_bcc="not-an-address")
    with pytest.raises(ValidationError):
        sequence_create(team=team, owner=recruiter(team), name="S", bcc="maildrop@")
    team.refresh_from_db()
    assert team.default_bcc == ""
    assert not Sequence.objects.exists()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("maildrop@greenhouse.io", True),
        ("MAILDROP@ivy.greenhouse.io", True),
        ("maildrop@eu.greenhouse.io", True),
        ("maildrop@greenhouse.io.evil.example", False),
        ("notmaildrop@greenhouse.io", False),
        ("audit@acme.example", False),
    ],
)
def test_maildrop_addresses_are_recognised(address, expected):
    assert is_greenhouse_maildrop(address) is expected


def test_the_sequence_page_shows_each_enrollments_own_bcc(client):
    team = TeamFactory(default_bcc="maildrop@greenhouse.io")
    owner = recruiter(team)
    sequence = sequence_create(
        team=team, owner=owner, name="S", steps=[{"subject_template": "Hi", "body_template": "x"}]
    )
    early, late = ProspectFactory(team=team), ProspectFactory(team=team)
    prospects_enroll(sequence=sequence, prospects=[early], enrolled_by=owner)
    client.force_login(owner)
    response = client.post(
        reverse("sequences:sequence-edit", args=[sequence.pk]),
        {"name": "S", "bcc": "audit@acme.example", "is_active": "on"},
    )
    assert response.status_code == 302
    prospects_enroll(sequence=sequence, prospects=[late], enrolled_by=owner)

    page = client.get(reverse("sequences:sequence-detail", args=[sequence.pk])).content.decode()
    table_rows = re.findall(r"<tr>.*?</tr>", page, flags=re.DOTALL)
    rows = {p.full_name: row for p in (early, late) for row in table_rows if p.full_name in row}
    assert "maildrop@greenhouse.io" in rows[early.full_name]
    assert "audit@acme.example" in rows[late.full_name]
    assert "audit@acme.example" not in rows[early.full_name]


def test_the_team_settings_page_offers_the_maildrop_choices(client):
    team = TeamFactory()
    admin = recruiter(team)
    admin.membership.role = "admin"
    admin.membership.save()
    client.force_login(admin)
    url = reverse("teams:settings")
    page = client.get(url).content.decode()
    for choice in ("No BCC", "maildrop@greenhouse.io", "maildrop@ivy.greenhouse.io", "Another"):
        assert choice in page

    # A change is previewed first (tests/teams/test_default_bcc_preview.py), saved on Confirm.
    assert client.post(url, {"choice": "maildrop@ivy.greenhouse.io"}).status_code == 200
    team.refresh_from_db()
    assert team.default_bcc == ""
    data = {"choice": "maildrop@ivy.greenhouse.io", "confirm": "1"}
    assert client.post(url, data).status_code == 302
    team.refresh_from_db()
    assert team.default_bcc == "maildrop@ivy.greenhouse.io"

    data = {"choice": "custom", "custom": "audit@acme.example", "confirm": "1"}
    assert client.post(url, data).status_code == 302
    team.refresh_from_db()
    assert team.default_bcc == "audit@acme.example"

    response = client.post(url, {"choice": "custom", "custom": "nope"})
    assert response.status_code == 200
    assert "not a valid email address" in response.content.decode()
    assert client.post(url, {"choice": "none", "confirm": "1"}).status_code == 302
    team.refresh_from_db()
    assert team.default_bcc == ""


def test_only_team_admins_change_the_default(client):
    team = TeamFactory()
    client.force_login(recruiter(team))
    response = client.post(reverse("teams:settings"), {"choice": "maildrop@greenhouse.io"})
    assert response.status_code == 403
    team.refresh_from_db()
    assert team.default_bcc == ""
