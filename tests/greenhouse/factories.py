from datetime import timedelta

import factory
from django.utils import timezone

from apps.greenhouse.models import (
    Backfill,
    BotNotice,
    CandidateLink,
    GreenhouseIntegration,
    GreenhouseUserMapping,
    ProspectLookup,
    SensitiveReview,
    SyncAttempt,
    SyncRecord,
)
from apps.greenhouse.notes import note_reference
from apps.greenhouse.policy import CandidateMatch, Reason
from tests.messaging.factories import MessageFactory
from tests.teams.factories import TeamFactory, UserFactory

FACTORY_CLIENT_SECRET = "factory-secret-Zx81Yw64Vu27"


class GreenhouseIntegrationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GreenhouseIntegration
        skip_postgeneration_save = True

    team = factory.SubFactory(TeamFactory)
    client_id = factory.Sequence(lambda n: f"client-{n}")
    host = "greenhouse"  # the real hosts: tests that call Greenhouse use the sandbox's profile

    @factory.post_generation
    def client_secret(obj, create, extracted, **kwargs):
        obj.set_client_secret(FACTORY_CLIENT_SECRET if extracted is None else extracted)
        if create:
            obj.save(update_fields=["client_secret_encrypted", "client_secret_set_at"])


class GreenhouseUserMappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GreenhouseUserMapping

    integration = factory.SubFactory(GreenhouseIntegrationFactory)
    user = factory.SubFactory(UserFactory)
    greenhouse_user_id = factory.Sequence(lambda n: 5000 + n)


class SyncedIntegrationFactory(GreenhouseIntegrationFactory):
    """An integration whose team has the sync enabled by support and switched on."""

    health = GreenhouseIntegration.Health.OK
    sync_enabled_by_support = True
    sync_enabled_at = factory.LazyFunction(timezone.now)
    sync_on = True
    sync_on_since = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))


class SyncRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncRecord
        skip_postgeneration_save = True

    message = factory.SubFactory(MessageFactory)
    team = factory.SelfAttribute("message.team")
    thread = factory.SelfAttribute("message.thread")
    prospect = factory.SelfAttribute("message.thread.prospect")
    channel = factory.SelfAttribute("message.channel")
    direction = factory.SelfAttribute("message.direction")
    status = SyncRecord.Status.PENDING
    reason = Reason.SEQUENCE_EMAIL

    @factory.post_generation
    def with_reference(obj, create, extracted, **kwargs):
        obj.note_ref = note_reference(obj.pk)
        if create:
            obj.save(update_fields=["note_ref"])


class SyncAttemptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncAttempt

    record = factory.SubFactory(SyncRecordFactory)
    kind = SyncAttempt.Kind.POST
    outcome = SyncAttempt.Outcome.OK
    http_status = 201


class BotNoticeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BotNotice

    thread = factory.SubFactory("tests.messaging.factories.ThreadFactory")
    rfc_message_id = factory.Sequence(lambda n: f"bot{n}@outreach.test")


class CandidateLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CandidateLink

    prospect = factory.SubFactory("tests.sequences.factories.ProspectFactory")
    team = factory.SelfAttribute("prospect.team")
    candidate_id = factory.Sequence(lambda n: 40_000 + n)
    match = CandidateMatch.ONE
    candidate_ids_seen = factory.LazyAttribute(lambda link: [link.candidate_id])
    resolved_at = factory.LazyFunction(timezone.now)


class BackfillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Backfill

    team = factory.SubFactory(TeamFactory)
    scope = Backfill.Scope.TEAM
    until = factory.LazyFunction(timezone.now)
    since = factory.LazyAttribute(lambda b: b.until - timedelta(days=30))
    window_label = "30 days"
    requested_by_name = "Ada Admin"


class ProspectLookupFactory(factory.django.DjangoModelFactory):
    """A prospect waiting for a Greenhouse candidate, looked up again on a schedule."""

    class Meta:
        model = ProspectLookup

    prospect = factory.SubFactory("tests.sequences.factories.ProspectFactory")
    team = factory.SelfAttribute("prospect.team")
    waiting_since = factory.LazyFunction(timezone.now)
    next_attempt_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=2))


class SensitiveReviewFactory(factory.django.DjangoModelFactory):
    """A review waiting for its recruiter, of a record held for it (review.py)."""

    class Meta:
        model = SensitiveReview

    record = factory.SubFactory(
        SyncRecordFactory, status="held", reason=Reason.AWAITING_REVIEW.value
    )
    team_id = factory.SelfAttribute("record.team_id")
    prospect_id = factory.SelfAttribute("record.prospect_id")
    matched = factory.LazyFunction(lambda: ["salary"])
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=3))
