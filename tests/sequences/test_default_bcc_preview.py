"""The preview before the team's default BCC changes (issue 16, item 6): what each existing
sequence keeps and what new sequences get, nothing saved without the Confirm, and the preview's
figures checked against the save (existing sequences counted unchanged, a new one created)."""

from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from apps.sequences.models import Sequence
from apps.sequences.previews import bcc_kept_lines, sequences_bcc_kept
from apps.sequences.services import sequence_create
from apps.teams.services import default_bcc_normalize
from tests.sequences.factories import SequenceFactory
from tests.teams.factories import TeamFactory, recruiter, team_admin

pytestmark = pytest.mark.django_db
URL = reverse("teams:settings")


@pytest.fixture
def team():
    team = TeamFactory(default_bcc="maildrop@greenhouse.io")
    for _ in range(3):
        SequenceFactory(team=team, bcc="maildrop@greenhouse.io")
    SequenceFactory(team=team, bcc="")
    SequenceFactory(team=team, bcc="", is_active=False)
    SequenceFactory(team=TeamFactory(), bcc="maildrop@greenhouse.io")  # another team's
    return team


@pytest.fixture
def admin_client(client, team):
    client.force_login(team_admin(team))
    return client


def test_a_change_is_previewed_and_not_saved(admin_client, team):
    data = {"choice": "custom", "custom": "Audit@Acme.example"}
    response = admin_client.post(URL, data)
    assert response.status_code == 200
    page = unescape(response.content.decode())
    assert "3 existing sequences keep their BCC maildrop@greenhouse.io." in page
    assert "2 existing sequences keep no BCC." in page
    assert "New sequences get audit@acme.example." in page
    assert "Confirm and save" in page and 'name="confirm"' in page
    team.refresh_from_db()
    assert team.default_bcc == "maildrop@greenhouse.io"


def test_the_preview_counts_what_the_save_leaves_and_what_new_sequences_get(admin_client, team):
    kept = sequences_bcc_kept(team=team)
    assert kept == [("maildrop@greenhouse.io", 3), ("", 2)]
    data = {"choice": "custom", "custom": "audit@acme.example; hr@acme.example"}
    page = unescape(admin_client.post(URL, data).content.decode())
    assert "New sequences get audit@acme.example, hr@acme.example." in page
    before = dict(Sequence.objects.filter(team=team).values_list("pk", "bcc"))
    assert admin_client.post(URL, {**data, "confirm": "1"}).status_code == 302
    team.refresh_from_db()
    assert team.default_bcc == "audit@acme.example, hr@acme.example"
    after = dict(Sequence.objects.filter(team=team).values_list("pk", "bcc"))
    assert after == before and len(after) == sum(n for _, n in kept)
    assert (
        sum(1 for bcc in after.values() if bcc == "maildrop@greenhouse.io")
        == dict(kept)["maildrop@greenhouse.io"]
    )
    new = sequence_create(team=team, owner=team.memberships.first().user, name="New one")
    assert new.bcc == team.default_bcc == default_bcc_normalize(data["custom"])


def test_the_texts_are_plural_correct():
    team = TeamFactory(default_bcc="")
    assert bcc_kept_lines(sequences_bcc_kept(team=team)) == ["The team has no sequence yet."]
    SequenceFactory(team=team, bcc="x@y.example")
    SequenceFactory(team=team, bcc="")
    assert bcc_kept_lines(sequences_bcc_kept(team=team)) == [
        "1 existing sequence keeps no BCC.",
        "1 existing sequence keeps its BCC x@y.example.",
    ]


def test_no_bcc_is_said_in_words(admin_client, team):
    page = unescape(admin_client.post(URL, {"choice": "none"}).content.decode())
    assert "New sequences get no BCC." in page and "Confirm and save" in page


def test_an_unchanged_default_saves_without_a_preview(admin_client, team):
    response = admin_client.post(URL, {"choice": "maildrop@greenhouse.io"})
    assert response.status_code == 302


def test_an_invalid_address_is_refused_without_a_preview(admin_client, team):
    response = admin_client.post(URL, {"choice": "custom", "custom": "nope", "confirm": "1"})
    page = response.content.decode()
    assert "not a valid email address" in page and "Confirm and save" not in page
    team.refresh_from_db()
    assert team.default_bcc == "maildrop@greenhouse.io"


def test_a_recruiter_cannot_preview_or_confirm(client, team):
    client.force_login(recruiter(team))
    for data in ({"choice": "none"}, {"choice": "none", "confirm": "1"}):
        assert client.post(URL, data).status_code == 403
    team.refresh_from_db()
    assert team.default_bcc == "maildrop@greenhouse.io"


def test_the_confirm_needs_the_csrf_token(team):
    client = Client(enforce_csrf_checks=True)
    client.force_login(team_admin(team))
    assert client.post(URL, {"choice": "none", "confirm": "1"}).status_code == 403
    team.refresh_from_db()
    assert team.default_bcc == "maildrop@greenhouse.io"
