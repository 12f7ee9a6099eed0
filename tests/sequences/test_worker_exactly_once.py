"""End to end with two real worker processes: every due step is sent exactly once, although the
scheduler runs several times at once on both workers."""

import time
from datetime import timedelta
from email import policy
from email.parser import BytesParser

import pytest

from apps.messaging.models import Message
from apps.messaging.tasks import sequence_steps_dispatch_task
from apps.sequences.models import Enrollment
from apps.sequences.services import prospects_enroll, sequence_create
from tests.fixtures.worker import wait_for
from tests.sequences.factories import ProspectEmailFactory, ProspectFactory
from tests.teams.factories import TeamFactory, recruiter

PROSPECTS = 12
STEPS = 2


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_workers_send_every_due_step_exactly_once(celery_worker_factory, tmp_path):
    team = TeamFactory()
    owner = recruiter(team)
    sequence = sequence_create(
        team=team,
        owner=owner,
        name="Exactly once",
        steps=[
            {"subject_template": "Hello {{ first_name }}", "body_template": "Step one"},
            # No wait: step two is due as soon as step one went out, so ticks race for it too.
            {"body_template": "Step two", "delay": timedelta(0)},
        ],
    )
    prospects = []
    for _ in range(PROSPECTS):
        prospect = ProspectFactory(team=team)
        ProspectEmailFactory(prospect=prospect)
        prospects.append(prospect)
    prospects_enroll(sequence=sequence, prospects=prospects, enrolled_by=owner)

    outbox = tmp_path / "outbox"
    env = {
        "DEV_OUTBOX_DIR": str(outbox),
        "EMAIL_BACKEND": "apps.messaging.backends.DevOutboxEmailBackend",
        "ANYMAIL_ESP": "",
    }
    workers = [celery_worker_factory(concurrency=1, extra_env=env) for _ in range(2)]

    def all_sent():
        sent = Message.objects.filter(status=Message.Status.SENT).count()
        if sent < PROSPECTS * STEPS or Enrollment.objects.filter(status="active").exists():
            sequence_steps_dispatch_task.delay()  # beat would keep ticking too
            return False
        return True

    for _ in range(6):  # several ticks at once, spread over both workers
        sequence_steps_dispatch_task.delay()
    wait_for(all_sent, interval=0.5, message="not every step was sent")

    # A few more ticks after everything went out change nothing.
    for _ in range(4):
        sequence_steps_dispatch_task.delay()
    time.sleep(3)

    messages = list(Message.objects.all())
    assert len(messages) == PROSPECTS * STEPS
    per_step = {(m.enrollment_id, m.sequence_step_id) for m in messages}
    assert len(per_step) == PROSPECTS * STEPS
    assert {m.status for m in messages} == {Message.Status.SENT}
    assert not Enrollment.objects.exclude(status=Enrollment.Status.FINISHED).exists()

    files = sorted((outbox / "email").glob("*.eml"))
    assert len(files) == PROSPECTS * STEPS
    parser = BytesParser(policy=policy.default)
    sent_ids = [parser.parsebytes(f.read_bytes())["Message-ID"].strip("<>") for f in files]
    assert sorted(sent_ids) == sorted(m.message_id for m in messages)

    # Both processes took part (otherwise this proves nothing about concurrency).
    for worker in workers:
        assert "succeeded in" in worker.log, worker.log[-2000:]
