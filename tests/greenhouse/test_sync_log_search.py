"""The sync log finds a candidate by name (issue 14 item 12), as it already did by email,
Message-ID and note id, and the name search stays indexed: on PostgreSQL EXPLAIN over a seeded
prospect table shows the name indexes of sequences/0005_prospect_name_search, never a scan of
the table; on SQLite (the demo) the search goes through the team's index."""

import pytest
from django.db import connection
from django.urls import reverse

from apps.greenhouse.models import SyncRecord
from apps.greenhouse.selectors import SyncLogFilters, sync_log
from apps.sequences.models import Prospect
from apps.sequences.selectors import prospects_by_name
from tests.greenhouse.factories import SyncRecordFactory
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.sequences.factories import ProspectEmailFactory, ProspectFactory
from tests.teams.factories import TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def log(team):
    rob = team.memberships.get(user__username="rob").user
    records = {}
    for first, last in [("Grace", "Hopper"), ("Alan", "Turing"), ("Grace", "Kelly")]:
        prospect = ProspectFactory(team=team, first_name=first, last_name=last)
        ProspectEmailFactory(prospect=prospect, email=f"{first}.{last}@example.com".lower())
        thread = ThreadFactory(team=team, prospect=prospect, owner=rob)
        records[last] = SyncRecordFactory(
            message=MessageFactory(thread=thread, message_id=f"{last.lower()}@outreach.test"),
            status=SyncRecord.Status.WRITTEN,
            note_id=700000 + len(records),
        )
    # Another team's Grace Hopper is never found.
    other = ProspectFactory(team=TeamFactory(), first_name="Grace", last_name="Hopper")
    SyncRecordFactory(message=MessageFactory(thread=ThreadFactory(team=other.team, prospect=other)))
    return records


def found(team, term) -> set[str]:
    records = sync_log(team_id=team.pk, filters=SyncLogFilters(q=term))
    return {r.prospect.last_name for r in records}


@pytest.mark.parametrize(
    ("term", "names"),
    [
        ("Grace", {"Hopper", "Kelly"}),
        ("grace", {"Hopper", "Kelly"}),
        ("hop", {"Hopper"}),
        ("Grace Hopper", {"Hopper"}),
        ("grace  ho", {"Hopper"}),
        ("Hopper Grace", {"Hopper"}),
        ("TURING", {"Turing"}),
        ("alan.turing@example.com", {"Turing"}),
        ("<kelly@outreach.test>", {"Kelly"}),
        ("700000", {"Hopper"}),
        ("race", set()),  # a prefix of a name, not any part of it
        ("g", set()),  # too short to narrow anything
        ("Grace Turing", set()),
    ],
)
def test_the_log_finds_a_candidate_by_name_email_message_id_or_note_id(team, log, term, names):
    assert found(team, term) == names


def test_the_log_page_searches_by_name(client, team, log):
    client.force_login(team.memberships.get(user__username="ada").user)
    page = client.get(reverse("greenhouse:log"), {"q": "grace hop"})
    rows = page.context["page"].rows
    assert [r.pk for r in rows] == [log["Hopper"].pk]
    assert 'placeholder="Candidate name or email, Message-ID or note ID"' in page.content.decode()


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    explain = "EXPLAIN" if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN"
    with connection.cursor() as cursor:
        cursor.execute(f"{explain} {sql}", params)
        return "\n".join(" ".join(str(c) for c in row) for row in cursor.fetchall())


def test_the_name_search_is_indexed(team):
    # Enough prospects (other teams' too) that a scan costs more than the indexes.
    teams = [team, *(TeamFactory() for _ in range(4))]
    Prospect.objects.bulk_create(
        Prospect(team=teams[i % len(teams)], first_name=f"First{i:05d}", last_name=f"Last{i:05d}")
        for i in range(20_000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    for team_id in (team.pk, None):  # the team's log, and support's search over every team
        plan = _plan(prospects_by_name("first0012", team_id=team_id).values("pk"))
        if connection.vendor == "postgresql":
            assert "prospect_first_name_search" in plan and "prospect_last_name_search" in plan
            assert "Seq Scan" not in plan, plan
        elif team_id is not None:
            assert "SEARCH sequences_prospect USING" in plan, plan
    assert prospects_by_name("first0012", team_id=None).count() == 10


def test_the_filters_name_reasons_in_words_with_acronyms_kept(client, team):
    client.force_login(team.memberships.get(user__username="ada").user)
    form = client.get(reverse("greenhouse:log")).context["form"]
    reasons = dict(form.fields["reason"].choices)
    assert reasons["sms"] == "SMS"
    assert reasons["maildrop_bcc"] == "BCC'd to Maildrop"
    assert reasons["no_candidate"] == "No candidate"
    assert reasons["greenhouse_unreachable"] == "Greenhouse unreachable"
    assert dict(form.fields["channel"].choices)["sms"] == "SMS"
