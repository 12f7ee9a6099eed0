"""The Greenhouse figures of /metrics, each against rows written here (real database) and the
real shared rate budget store, read through the endpoint as Prometheus reads it."""

import re
import time
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.core.tasks import worker_ping_answer_task
from apps.greenhouse.harvest.hosts import host_profile
from apps.greenhouse.harvest.ratelimit import RateBudget
from apps.greenhouse.metrics import quantile
from apps.greenhouse.models import GreenhouseIntegration, SyncAttempt, SyncRecord
from tests.fixtures.worker import TEST_QUEUE, broker_purge
from tests.greenhouse.factories import (
    GreenhouseIntegrationFactory,
    SyncAttemptFactory,
    SyncedIntegrationFactory,
    SyncRecordFactory,
)
from tests.teams.factories import TeamFactory

TOKEN = "scrape-token-for-tests-7Qm2"
Status = SyncRecord.Status


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def read() -> dict[str, dict[tuple, float]]:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200, response.content[:500]
        samples: dict[str, dict[tuple, float]] = {}
        for family in text_string_to_metric_families(response.content.decode()):
            for sample in family.samples:
                key = tuple(sorted(sample.labels.items()))
                samples.setdefault(sample.name, {})[key] = sample.value
        return samples

    return read


@pytest.fixture
def empty_test_queue():
    broker_purge()
    yield
    broker_purge()


def _team(samples, name, team):
    return samples[name].get((("team", team),))


def _aged(record, **ages):
    """Set the record's timestamps to `ages` ago (created_at is auto_now_add)."""
    now = timezone.now()
    SyncRecord.objects.filter(pk=record.pk).update(
        **{field: now - age for field, age in ages.items()}
    )


@pytest.mark.django_db
def test_backlog_oldest_waiting_written_and_429s_per_team(scrape):
    acme = SyncedIntegrationFactory(team=TeamFactory(slug="acme")).team
    quiet = SyncedIntegrationFactory(team=TeamFactory(slug="quiet")).team
    loose = TeamFactory(slug="no-connection")  # records, but no connection: summed as "other"

    oldest = SyncRecordFactory(message__team=acme, status=Status.HELD)
    _aged(oldest, created_at=timedelta(minutes=20))
    SyncRecordFactory(message__team=acme, status=Status.PENDING)
    SyncRecordFactory(message__team=acme, status=Status.IN_PROGRESS)
    for _ in range(3):
        SyncRecordFactory(message__team=acme, status=Status.WRITTEN, written_at=timezone.now())
    SyncRecordFactory(message__team=acme, status=Status.FAILED)
    SyncRecordFactory(message__team=acme, status=Status.SKIPPED)
    refused = SyncRecordFactory(message__team=acme, status=Status.PENDING)
    SyncAttemptFactory(record=refused, http_status=429, outcome=SyncAttempt.Outcome.RETRY)
    SyncAttemptFactory(record=refused, http_status=429, outcome=SyncAttempt.Outcome.RETRY)
    SyncAttemptFactory(record=refused, http_status=201)
    SyncRecordFactory(message__team=loose, status=Status.PENDING)
    SyncRecordFactory(message__team=loose, status=Status.WRITTEN, written_at=timezone.now())

    samples = scrape()

    assert _team(samples, "outreach_greenhouse_backlog_records", "acme") == 4
    assert _team(samples, "outreach_greenhouse_backlog_records", "quiet") == 0
    assert _team(samples, "outreach_greenhouse_backlog_records", "other") == 1
    waited = _team(samples, "outreach_greenhouse_oldest_waiting_seconds", "acme")
    assert 20 * 60 <= waited < 25 * 60
    assert _team(samples, "outreach_greenhouse_oldest_waiting_seconds", "quiet") == 0
    assert _team(samples, "outreach_greenhouse_notes_written_total", "acme") == 3
    assert _team(samples, "outreach_greenhouse_notes_written_total", "other") == 1
    assert _team(samples, "outreach_greenhouse_rate_limited_responses_total", "acme") == 2
    assert _team(samples, "outreach_greenhouse_rate_limited_responses_total", "quiet") == 0
    assert _team(samples, "outreach_greenhouse_sync_on", "acme") == 1
    assert quiet.slug in {dict(k)["team"] for k in samples["outreach_greenhouse_sync_on"]}


@pytest.mark.django_db
def test_teams_beyond_the_cap_are_summed_as_other(scrape, settings):
    settings.METRICS_MAX_TEAMS = 2
    teams = [SyncedIntegrationFactory(team=TeamFactory(slug=f"t{i}")).team for i in range(4)]
    for team in teams:
        SyncRecordFactory(message__team=team, status=Status.PENDING)

    samples = scrape()

    backlog = samples["outreach_greenhouse_backlog_records"]
    assert backlog == {(("team", "t0"),): 1, (("team", "t1"),): 1, (("team", "other"),): 2}


@pytest.mark.django_db
def test_connection_needing_attention_is_flagged(scrape):
    GreenhouseIntegrationFactory(
        team=TeamFactory(slug="broken"), health=GreenhouseIntegration.Health.NEEDS_ATTENTION
    )
    GreenhouseIntegrationFactory(
        team=TeamFactory(slug="fine"), health=GreenhouseIntegration.Health.OK
    )

    samples = scrape()

    assert _team(samples, "outreach_greenhouse_connection_needs_attention", "broken") == 1
    assert _team(samples, "outreach_greenhouse_connection_needs_attention", "fine") == 0
    assert _team(samples, "outreach_greenhouse_sync_on", "fine") == 0


@pytest.mark.django_db
def test_allowance_used_is_read_from_the_shared_budget_without_changing_it(scrape):
    integration = GreenhouseIntegrationFactory(
        team=TeamFactory(slug="metered"), client_id=f"metered-{uuid.uuid4().hex}"
    )
    budget = RateBudget.for_credential(
        api_base_url=host_profile(integration.host).api_base_url,
        client_id=integration.client_id,
    )
    try:
        reset = str(int(time.time()) + 30)
        probe = budget.acquire(max_wait=0)
        budget.record(
            probe,
            {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "9", "X-RateLimit-Reset": reset},
        )
        for _ in range(2):
            budget.acquire(max_wait=5)
        state_before = budget.store.transact(budget.key, dict)

        samples = scrape()

        assert _team(samples, "outreach_greenhouse_allowance_limit_requests", "metered") == 10
        assert _team(samples, "outreach_greenhouse_allowance_used_requests", "metered") == 3
        assert state_before["used"] == 3
        assert budget.store.transact(budget.key, dict) == state_before
    finally:
        budget.reset()


@pytest.mark.django_db
def test_note_latency_quantiles_of_the_last_15_minutes(scrape):
    team = SyncedIntegrationFactory(team=TeamFactory(slug="timed")).team
    for seconds in (2, 4, 6, 8, 100):
        record = SyncRecordFactory(message__team=team, status=Status.WRITTEN)
        now = timezone.now()
        SyncRecord.objects.filter(pk=record.pk).update(
            created_at=now - timedelta(seconds=seconds + 60), written_at=now - timedelta(minutes=1)
        )
    old = SyncRecordFactory(message__team=team, status=Status.WRITTEN)
    _aged(old, created_at=timedelta(hours=2), written_at=timedelta(minutes=30))  # outside

    samples = scrape()

    latency = samples["outreach_greenhouse_note_latency_seconds"]
    assert latency[(("quantile", "0.5"),)] == pytest.approx(6, abs=0.5)
    assert latency[(("quantile", "0.99"),)] == pytest.approx(100, abs=0.5)
    assert samples["outreach_greenhouse_notes_written_last_15m"][()] == 5


def test_nearest_rank_quantile():
    values = [float(v) for v in range(1, 101)]
    assert quantile(values, 0.5) == 50
    assert quantile(values, 0.95) == 95
    assert quantile(values, 0.99) == 99
    assert quantile([7.0], 0.99) == 7
    assert quantile([], 0.5) == 0


@pytest.mark.django_db
def test_the_support_dashboard_sums_them_up(staff_client, empty_test_queue):
    team = SyncedIntegrationFactory(team=TeamFactory(slug="summed")).team
    waiting = SyncRecordFactory(message__team=team, status=Status.PENDING)
    _aged(waiting, created_at=timedelta(minutes=42))
    SyncRecordFactory(message__team=team, status=Status.HELD)
    for _ in range(2):
        SyncRecordFactory(message__team=team, status=Status.WRITTEN, written_at=timezone.now())
    old = SyncRecordFactory(message__team=team, status=Status.WRITTEN)
    _aged(old, written_at=timedelta(hours=2))
    SyncAttemptFactory(record=waiting, http_status=429, outcome=SyncAttempt.Outcome.RETRY)
    worker_ping_answer_task.apply_async(args=[0])

    html = staff_client.get(reverse("admin:greenhouse_syncrecord_dashboard")).content.decode()

    assert "Backlog: <strong>2</strong> records" in html
    assert re.search(r"Oldest waiting: <strong>4[23] min</strong>", html)
    assert "<strong>2</strong> notes written" in html
    assert '<strong class="warn">1</strong> rate-limited (429) answer<' in html
    assert f"{TEST_QUEUE} <strong>1</strong>" in html
    assert re.search(r"oldest of them: <strong>4[23] min</strong>", html)  # the team's own line
