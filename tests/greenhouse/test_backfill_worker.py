"""Backfill with a real Celery worker process and the Harvest sandbox over HTTP: the dry run's
count is what the run writes, through the team's lane and within the rate budget (never over
the sandbox's limit, no 429), each note once; a second run writes nothing new."""

from collections import Counter

import pytest
from django.test import Client

from apps.greenhouse.models import Backfill, PauseVia, SyncRecord
from apps.greenhouse.pausing import prospect_sync_pause
from apps.greenhouse.policy import Reason
from apps.greenhouse.switches import team_sync_turn_off, team_sync_turn_on
from apps.messaging.outbound import sms_send
from tests.fixtures.messaging import deliver_queued
from tests.fixtures.worker import wait_for
from tests.greenhouse.test_sync_acceptance import worker_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
Status = SyncRecord.Status


def api_notes(sandbox) -> list[dict]:
    return [n for n in sandbox.notes() if n["source"] == "api"]


def test_a_backfill_writes_what_its_dry_run_counted_once_within_the_budget(
    synced, harvest_sandbox, celery_worker_factory, settings
):
    limit = 3
    harvest_sandbox.configure(rate_limit=limit, rate_window=3)
    celery_worker_factory(concurrency=1, extra_env=worker_env(settings))
    prospects = (synced.grace, synced.alan, synced.katherine)
    # While sync is on, each prospect's first SMS is written (and the prospect looked up).
    for prospect in prospects:
        sms_send(sender=synced.rob, prospect=prospect, body="While sync was on")
    deliver_queued()
    wait_for(lambda: SyncRecord.objects.filter(status=Status.WRITTEN).count() == 3)

    team_sync_turn_off(team=synced.team, by=synced.ada)
    for n in range(4):
        for prospect in prospects:
            sms_send(sender=synced.rob, prospect=prospect, body=f"While sync was off {n}")
    deliver_queued()
    off = SyncRecord.objects.filter(reason=Reason.SYNC_TURNED_OFF)
    wait_for(lambda: off.count() == 12, message="the SMS sent while sync was off")
    team_sync_turn_on(team=synced.team, by=synced.ada)
    prospect_sync_pause(prospect=synced.katherine, via=PauseVia.APP, by=synced.rob)

    admin = Client()
    admin.force_login(synced.ada)
    dry = admin.get("/team/greenhouse/sync/backfill/", {"window": "7"})
    plan = dry.context["plan"]
    rows = {row.prospect.first_name: row for row in plan.rows}
    assert (plan.write, rows["Katherine"].skip) == (8, {Reason.CANDIDATE_PAUSED: 4})
    assert len(api_notes(harvest_sandbox)) == 3  # the dry run wrote nothing

    response = admin.post("/team/greenhouse/sync/backfill/run/", {"window": "7"})
    backfill = Backfill.objects.get()
    assert response.status_code == 302 and backfill.released == plan.write
    records = SyncRecord.objects.filter(backfill=backfill)
    wait_for(
        lambda: records.filter(status=Status.WRITTEN).count() == plan.write,
        message="the backfill's notes were not written",
    )

    notes = api_notes(harvest_sandbox)
    assert len(notes) == 3 + plan.write
    refs = Counter(r.note_ref for r in records for n in notes if r.note_ref in n["body"])
    assert set(refs.values()) == {1} and len(refs) == plan.write
    assert not records.exclude(status=Status.WRITTEN).exists()
    windows = harvest_sandbox.windows(harvest_sandbox.client_id)
    assert all(w["served"] <= limit for w in windows), windows
    assert sum(w["rejected"] for w in windows) == 0, windows  # never a 429
    page = admin.get(f"/prospects/{synced.grace.pk}/sync/").content.decode()
    assert "Written by a backfill started by Ada" in page
    detail = admin.get(f"/team/greenhouse/sync/backfill/{backfill.pk}/").content.decode()
    assert f"data-done>{plan.write}<" in detail and "data-waiting>0<" in detail

    # Again: the dry run finds nothing to write, the run releases nothing, nothing is written.
    assert admin.get("/team/greenhouse/sync/backfill/", {"window": "7"}).context["plan"].write == 0
    admin.post("/team/greenhouse/sync/backfill/run/", {"window": "7"})
    second = Backfill.objects.exclude(pk=backfill.pk).get()
    assert second.released == 0
    assert len(api_notes(harvest_sandbox)) == 3 + plan.write
