"""The small things of issue 14 item 13 on the Greenhouse side: a true message when the sync is
turned off, the candidate id linking to the candidate's feed (Greenhouse's web app, or the
sandbox's own page), and a recruiter's home saying whether the sync is on for their team."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from apps.greenhouse.harvest.hosts import host_profiles
from apps.greenhouse.models import GreenhouseIntegration, SyncRecord
from apps.harvest_sandbox.services import SANDBOX_HOST
from tests.greenhouse.factories import (
    CandidateLinkFactory,
    GreenhouseIntegrationFactory,
    SyncRecordFactory,
)
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.sequences.factories import ProspectFactory

pytestmark = pytest.mark.django_db


def member(team, username):
    return team.memberships.get(user__username=username).user


def flash(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def sync_is_on(team):
    return GreenhouseIntegrationFactory(
        team=team, host=SANDBOX_HOST, sync_enabled_by_support=True, sync_on=True
    )


def turn_off(client, team):
    client.force_login(member(team, "ada"))
    data = {"note_visibility": "public", "maildrop_overlap": "skip_sync_note", "confirm": "1"}
    return flash(client.post(reverse("greenhouse:settings"), data, follow=True))


def test_turning_the_sync_off_with_nothing_waiting_says_nothing_untrue(client, team, sync_is_on):
    assert turn_off(client, team) == ["Greenhouse sync settings saved."]


def test_turning_the_sync_off_counts_what_waits(client, team, sync_is_on):
    thread = ThreadFactory(team=team, prospect=ProspectFactory(team=team))
    SyncRecordFactory(message=MessageFactory(thread=thread), status=SyncRecord.Status.PENDING)
    assert turn_off(client, team) == [
        "1 waiting message will not be synced.",
        "Greenhouse sync settings saved.",
    ]


@pytest.mark.parametrize(
    ("host", "page"),
    [
        ("greenhouse", "https://app.greenhouse.io/people/40123"),
        (SANDBOX_HOST, "http://sandbox.test:8001/#candidate-40123"),
    ],
)
def test_the_candidate_id_links_to_the_candidates_feed(client, team, settings, host, page):
    settings.GREENHOUSE_HOSTS = {
        **settings.GREENHOUSE_HOSTS,
        SANDBOX_HOST: {
            "label": "Local Harvest sandbox",
            "api": "http://sandbox.test:8001",
            "token": "http://sandbox.test:8001/token",
            "candidate_page": "http://sandbox.test:8001/#candidate-{id}",
        },
    }
    GreenhouseIntegrationFactory(team=team, host=host)
    link = CandidateLinkFactory(prospect=ProspectFactory(team=team), candidate_id=40123)
    client.force_login(member(team, "rob"))
    expected = f'<a href="{page}" target="_blank" rel="noopener" data-candidate-feed>'
    for url in (
        reverse("greenhouse:prospect-sync", args=[link.prospect.pk]),
        reverse("sequences:prospect-detail", args=[link.prospect.pk]),
    ):
        html = client.get(url).content.decode()
        assert f"{expected}Greenhouse candidate 40123</a>" in html, url


def test_a_host_without_a_candidate_page_shows_the_id_without_a_link(client, team, settings):
    settings.GREENHOUSE_HOSTS = {
        **settings.GREENHOUSE_HOSTS,
        "proxy": {"api": "https://gh.proxy.test", "token": "https://gh.proxy.test/token"},
    }
    GreenhouseIntegrationFactory(team=team, host="proxy")
    link = CandidateLinkFactory(prospect=ProspectFactory(team=team), candidate_id=40123)
    client.force_login(member(team, "rob"))
    html = client.get(reverse("greenhouse:prospect-sync", args=[link.prospect.pk])).content
    assert b"Greenhouse candidate 40123." in html and b"data-candidate-feed" not in html


def test_a_candidate_page_must_be_a_url_with_the_id(settings):
    settings.GREENHOUSE_HOSTS = {
        "greenhouse": {
            "api": "https://harvest.greenhouse.io",
            "token": "https://auth.greenhouse.io/token",
            "candidate_page": "https://app.greenhouse.io/people/",
        }
    }
    settings.GREENHOUSE_DEFAULT_HOST = "greenhouse"
    with pytest.raises(ImproperlyConfigured, match=r"\['candidate_page'\] has no \{id\}"):
        host_profiles()
    settings.GREENHOUSE_HOSTS["greenhouse"]["candidate_page"] = "javascript:alert({id})"
    with pytest.raises(ImproperlyConfigured, match="not an absolute http"):
        host_profiles()


def home_sync(client, team, username) -> str:
    client.force_login(member(team, username))
    html = client.get("/").content.decode()
    start = html.index("data-home-sync")
    return html[start : html.index("</div>", start)]


def test_a_recruiters_home_says_whether_the_sync_is_on_for_their_team(client, team):
    assert "Greenhouse is not connected yet" in home_sync(client, team, "rob")
    integration = GreenhouseIntegrationFactory(team=team, host=SANDBOX_HOST)
    assert "Support has not enabled activity sync" in home_sync(client, team, "rob")
    GreenhouseIntegration.objects.filter(pk=integration.pk).update(sync_enabled_by_support=True)
    panel = home_sync(client, team, "rob")
    assert '<span class="badge muted">Off</span>' in panel and "team admin can turn it on" in panel
    GreenhouseIntegration.objects.filter(pk=integration.pk).update(sync_on=True)
    panel = home_sync(client, team, "rob")
    assert '<span class="badge ok">On</span> for your team' in panel
    assert "as public notes, which everyone with access to the candidate" in panel
    # Support switching it off is "off" for the recruiter, whatever the team's own switch says.
    GreenhouseIntegration.objects.filter(pk=integration.pk).update(sync_enabled_by_support=False)
    assert '<span class="badge muted">Off</span>' in home_sync(client, team, "rob")
