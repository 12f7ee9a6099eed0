"""Every admin page of every registered model renders for support staff."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from apps.core.services import worker_ping_request
from apps.greenhouse.alerts import team_alerts_evaluate
from apps.greenhouse.exclusion_services import team_exclusions_save
from apps.greenhouse.exclusions import ExclusionRules
from apps.greenhouse.models import (
    CandidateCreation,
    CandidateDirectory,
    DirectoryFetch,
    PauseVia,
    SyncRecord,
)
from apps.greenhouse.pausing import prospect_sync_pause
from apps.greenhouse.review import prospect_sync_ignore
from apps.greenhouse.sensitive import DEFAULT_TERMS_TEXT
from apps.greenhouse.sensitive_review import RulesChange, team_review_rules_set
from apps.greenhouse.switches import team_note_visibility_set
from apps.greenhouse.visibility import thread_visibility_set
from apps.messaging.models import Channel
from tests.fixtures.staff import log_in_staff
from tests.greenhouse.factories import (
    BackfillFactory,
    BotNoticeFactory,
    CandidateLinkFactory,
    GreenhouseIntegrationFactory,
    GreenhouseUserMappingFactory,
    ProspectLookupFactory,
    SensitiveReviewFactory,
    SyncAttemptFactory,
    SyncRecordFactory,
)
from tests.messaging.factories import (
    InboundEventFactory,
    MessageFactory,
    ThreadFactory,
    UnmatchedInboundFactory,
    VirtualPhoneNumberFactory,
)
from tests.sequences.factories import (
    EnrollmentFactory,
    ProspectEmailFactory,
    ProspectPhoneFactory,
    SequenceStepFactory,
)
from tests.teams.factories import MembershipFactory

OUR_APPS = {"core", "teams", "sequences", "messaging", "greenhouse", "accounts"}
REGISTERED = sorted(
    (model for model in admin.site._registry if model._meta.app_label in OUR_APPS),
    key=lambda m: m._meta.label,
)


@pytest.fixture
def world(db):
    """One row of every model, so that each change page has something to show."""
    membership = MembershipFactory()
    team = membership.team
    enrollment = EnrollmentFactory(sequence__team=team, sequence__owner=membership.user)
    SequenceStepFactory(sequence=enrollment.sequence)
    ProspectEmailFactory(prospect=enrollment.prospect)
    ProspectPhoneFactory(prospect=enrollment.prospect)
    thread = ThreadFactory(team=team, prospect=enrollment.prospect, owner=membership.user)
    message = MessageFactory(thread=thread)
    number = VirtualPhoneNumberFactory(team=team, user=membership.user)
    ThreadFactory(team=team, channel=Channel.SMS, virtual_number=number, owner=membership.user)
    UnmatchedInboundFactory()
    InboundEventFactory()
    integration = GreenhouseIntegrationFactory(team=team)
    GreenhouseUserMappingFactory(integration=integration, user=membership.user)
    # The sync's models: a record with an attempt, a bot notice, a candidate link, a pause.
    backfill = BackfillFactory(team=team, requested_by=membership.user)
    record = SyncRecordFactory(message=message, backfill=backfill)
    SyncAttemptFactory(record=record)
    BotNoticeFactory(thread=thread)
    CandidateLinkFactory(prospect=enrollment.prospect)
    ProspectLookupFactory(prospect=enrollment.prospect)
    # The candidate directory's state and one request of its log.
    CandidateDirectory.objects.create(team=team, complete=True)
    DirectoryFetch.objects.create(team=team, kind="crawl", page=1, outcome="ok", candidates=3)
    prospect_sync_pause(prospect=enrollment.prospect, via=PauseVia.APP, by=membership.user)
    worker_ping_request(requested_by="test")
    # A thread's own visibility and its history (before the team's default becomes private).
    thread_visibility_set(thread=thread, visibility="admin_only", by=membership.user)
    team_note_visibility_set(team=team, visibility="private", by=membership.user)  # history
    # The review queue's: an ignore (with its audit row) and a candidate's creation.
    prospect_sync_ignore(prospect=enrollment.prospect, by=membership.user)
    CandidateCreation.objects.create(team=team, prospect=enrollment.prospect, candidate_id=7)
    # The team's exclusion lists and their history (issue 16).
    team_exclusions_save(
        team=team, rules=ExclusionRules(listed=("agency.example",)), by=membership.user
    )
    # The review of sensitive mail: the team's rules and one message waiting.
    team_review_rules_set(
        integration=integration,
        change=RulesChange(True, DEFAULT_TERMS_TEXT, 72, "skip"),
        by=membership.user,
    )
    SensitiveReviewFactory(record__message=MessageFactory(thread=thread))
    # An alert to the team's admins, and its email: a record that failed, evaluated.
    SyncRecordFactory(message=MessageFactory(thread=thread), status=SyncRecord.Status.FAILED)
    team_alerts_evaluate(team_id=team.pk)


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_superuser("support", "support@example.com", "pw")
    return log_in_staff(client, user)


def test_our_apps_have_admin_pages():
    assert len(REGISTERED) >= 10


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_changelist_add_and_change_pages_render(model, world, staff_client):
    info = (model._meta.app_label, model._meta.model_name)
    app_label, model_name = info
    url = f"admin:{app_label}_{model_name}"
    response = staff_client.get(reverse(f"{url}_changelist"))
    assert response.status_code == 200

    model_admin = admin.site._registry[model]
    request = response.wsgi_request
    if model_admin.has_add_permission(request):
        assert staff_client.get(reverse(f"{url}_add")).status_code == 200

    obj = model._default_manager.first()
    assert obj is not None, f"add a {model.__name__} to the `world` fixture"
    response = staff_client.get(reverse(f"{url}_change", args=[obj.pk]))
    assert response.status_code == 200
