"""Data for the browser tests: the demo team, and a synced world built by the real sync."""

import re
from datetime import timedelta

from django.core import mail
from django.utils import timezone

from apps.demo import data as demo
from apps.greenhouse.bot_notice import bot_notice_send
from apps.harvest_sandbox.services import SANDBOX_HOST
from apps.messaging.models import Channel, Thread
from apps.teams.models import Membership
from tests.fixtures.messaging import deliver_queued
from tests.fixtures.staff import confirmed_totp_device
from tests.greenhouse.factories import GreenhouseIntegrationFactory, SyncRecordFactory
from tests.greenhouse.sync_helpers import (
    enroll_and_dispatch_all_steps,
    make_synced_world,
    write_all,
)
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.teams.factories import MembershipFactory, TeamFactory, UserFactory


def demo_team():
    """Acme Talent with the demo admin (ada) and recruiter (rob), known to the Harvest sandbox
    as Greenhouse users, and support staff (a superuser without a team, with an authenticator
    app)."""
    team = TeamFactory(name="Acme Talent", slug="acme")
    users = {}
    for username, first, last, email, role in demo.DEMO_USERS:
        user = UserFactory(username=username, first_name=first, last_name=last, email=email)
        if role == "support":
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["is_staff", "is_superuser"])
            confirmed_totp_device(user)
        else:
            MembershipFactory(team=team, user=user, role=Membership.Role(role))
        users[username] = user
    return team, users


def sandbox_integration(team, sandbox, **fields):
    credential = {
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "acting_user_id": sandbox.user_id("ada@acme.example"),
        "host": SANDBOX_HOST,  # the fixture's profile for the running sandbox
    }
    return GreenhouseIntegrationFactory(team=team, **{**credential, **fields})


def synced_world(sandbox):
    """The demo team syncing to the sandbox: Rob's sequence has reached Grace, its notes are
    written (by the real sync, in-process), and the thread's bot email has gone to Rob."""
    sandbox.configure(rate_limit=5000, rate_window=30)
    team, users = demo_team()
    world = make_synced_world(team=team, integration=sandbox_integration(team, sandbox))
    world.support = users["support"]
    world.sequence = enroll_and_dispatch_all_steps(world, [world.grace])
    deliver_queued()
    write_all()
    world.thread = Thread.objects.get(prospect=world.grace, channel=Channel.EMAIL)
    return world


def send_bot_email(world) -> str:
    """Send the thread's bot email (as its task would) and return the pause link in it."""
    mail.outbox.clear()
    assert bot_notice_send(thread_id=world.thread.pk) == "sent"
    (email,) = mail.outbox
    assert email.to == [world.rob.email]
    return re.search(r"https?://\S+/greenhouse/pause/\S+/", email.body).group(0)


def globex_disabled():
    """A second team, disabled by support after its credential stopped working."""
    team = TeamFactory(name="Globex Recruiting", slug="globex")
    GreenhouseIntegrationFactory(
        team=team,
        client_id="globex-harvest-client",
        health="needs_attention",
        last_error=(
            "Bad credentials: Greenhouse refused the client secret (401). Enter the current "
            "secret from Greenhouse's Dev Center, then test the connection again."
        ),
        last_checked_at=timezone.now() - timedelta(hours=3),
        sync_enabled_at=timezone.now() - timedelta(days=2),
    )
    return team


def record_history(team, *, days: int = 14, owner=None, seed: int = 1):
    """Sync records spread over the last `days` days (for the dashboard and the sync log)."""
    now = timezone.now()
    thread = ThreadFactory(team=team, owner=owner or UserFactory(), subject="Staff engineer role")
    statuses = ["written", "written", "written", "skipped", "written", "failed", "written"]
    for day in range(days):
        per_day = (day * 7 + seed * 3) % 6 + 2
        for i in range(per_day):
            status = statuses[(day + i + seed) % len(statuses)]
            reason = {"skipped": "no_candidate"}.get(status, "sequence_email")
            record = SyncRecordFactory(
                message=MessageFactory(thread=thread),
                status=status,
                reason=reason,
                note_id=700000 + day * 10 + i if status == "written" else None,
                last_error="Greenhouse had a server error (502); try again in a few minutes."
                if status == "failed"
                else "",
            )
            record.__class__.objects.filter(pk=record.pk).update(
                # Oldest first, so ids grow with time as they do in production.
                created_at=now - timedelta(days=days - 1 - day, hours=per_day - i)
            )
    return thread
