"""Retrying a sync record changes its state, so the support console asks for the change
permission on sync records: staff who may only view them see no retry button, no bulk action,
and a POST to the retry URL is refused. Staff with the change permission retry as before."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from apps.greenhouse.models import SyncRecord
from tests.fixtures.staff import log_in_staff
from tests.greenhouse.factories import SyncRecordFactory
from tests.messaging.factories import MessageFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:greenhouse_syncrecord_changelist"


def support_user(username, *codenames):
    user = get_user_model().objects.create_user(username, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="greenhouse", codename__in=codenames)
    )
    return user


def action_names(changelist_page) -> list[str]:
    form = changelist_page.context["action_form"]
    return [name for name, _ in form.fields["action"].choices] if form else []


@pytest.fixture
def failed():
    return SyncRecordFactory(message=MessageFactory(), status=SyncRecord.Status.FAILED)


@pytest.fixture
def viewer(client):
    return log_in_staff(client, support_user("viewer", "view_syncrecord"))


@pytest.fixture
def changer(client):
    return log_in_staff(client, support_user("changer", "view_syncrecord", "change_syncrecord"))


def test_view_only_staff_read_the_record_without_a_retry_button(viewer, failed):
    page = viewer.get(reverse("admin:greenhouse_syncrecord_change", args=[failed.pk]))
    assert page.status_code == 200
    assert "Retry this record" not in page.content.decode()
    assert reverse("admin:greenhouse_syncrecord_retry", args=[failed.pk]) not in (
        page.content.decode()
    )


def test_view_only_staff_cannot_post_a_retry(viewer, failed):
    response = viewer.post(reverse("admin:greenhouse_syncrecord_retry", args=[failed.pk]))
    assert response.status_code == 403
    failed.refresh_from_db()
    assert failed.status == SyncRecord.Status.FAILED


def test_view_only_staff_are_not_offered_the_bulk_action(viewer, failed):
    page = viewer.get(reverse(CHANGELIST))
    assert page.status_code == 200
    assert "retry" not in action_names(page)
    response = viewer.post(
        reverse(CHANGELIST), {"action": "retry", "_selected_action": [failed.pk]}, follow=True
    )
    assert response.status_code == 200
    failed.refresh_from_db()
    assert failed.status == SyncRecord.Status.FAILED


def test_staff_with_the_change_permission_retry_from_the_page_and_in_bulk(changer, failed):
    page = changer.get(reverse("admin:greenhouse_syncrecord_change", args=[failed.pk]))
    assert "Retry this record" in page.content.decode()
    assert "retry" in action_names(changer.get(reverse(CHANGELIST)))
    response = changer.post(reverse("admin:greenhouse_syncrecord_retry", args=[failed.pk]))
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.status == SyncRecord.Status.PENDING

    other = SyncRecordFactory(message=MessageFactory(), status=SyncRecord.Status.FAILED)
    changer.post(reverse(CHANGELIST), {"action": "retry", "_selected_action": [other.pk]})
    other.refresh_from_db()
    assert other.status == SyncRecord.Status.PENDING
