"""Support staff need a second factor (TOTP) for the admin when STAFF_REQUIRE_2FA is on, as in
production: a password alone gets them the verify page, a code from their authenticator app
gets them in. Codes here are computed from the device's key (or the printed otpauth:// URI's
secret) with the authenticator's algorithm, django_otp.oath.TOTP."""

import io
import logging
import re
import time
from base64 import b32decode
from urllib.parse import parse_qs, urlparse

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP

from apps.accounts.models import StaffTotpDevice
from tests.fixtures.staff import confirmed_totp_device, totp_code
from tests.teams.factories import UserFactory, recruiter

pytestmark = pytest.mark.django_db

VERIFY = "/account/second-factor/"


@pytest.fixture(autouse=True)
def production_like(settings):
    settings.STAFF_REQUIRE_2FA = True


@pytest.fixture
def support(db):
    return UserFactory(username="support", is_staff=True, is_superuser=True)


def password_login(client, user, url="/admin/login/"):
    response = client.post(url, {"username": user.username, "password": "pw-for-tests"})
    assert response.status_code == 302, "the password is right"
    return response


def verify(client, code, next_url="/admin/"):
    return client.post(VERIFY, {"code": code, "next": next_url})


def test_a_password_alone_does_not_open_the_admin(client, support):
    confirmed_totp_device(support)
    password_login(client, support)
    for path in ("/admin/", "/admin/greenhouse/syncrecord/", "/admin/auth/user/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"] == f"{VERIFY}?next={path}"
    page = client.get(VERIFY)
    assert page.status_code == 200
    assert "Enter your code" in page.content.decode()


def test_the_app_login_leads_staff_to_the_verify_page_too(client, support):
    confirmed_totp_device(support)
    password_login(client, support, url="/login/")
    response = client.get("/", follow=True)  # staff without a team land in the admin
    assert response.redirect_chain[-1][0].startswith(VERIFY)


def test_a_valid_code_from_the_device_opens_the_admin(client, support):
    device = confirmed_totp_device(support)
    password_login(client, support)
    response = verify(client, totp_code(device), next_url="/admin/greenhouse/syncrecord/")
    assert response.status_code == 302 and response["Location"] == "/admin/greenhouse/syncrecord/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/greenhouse/syncrecord/").status_code == 200


def test_a_wrong_code_is_refused_and_the_admin_stays_closed(client, support, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 600  # the backoff outlasts any slowness of this test
    device = confirmed_totp_device(support)
    password_login(client, support)
    now = time.time()
    valid = {totp_code(device, at=now + step * device.step) for step in (-1, 0, 1)}
    right = totp_code(device, at=now)
    wrong = next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)
    response = verify(client, wrong)
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert client.get("/admin/").status_code == 302
    # Throttled after a failure: even the right code has to wait (django-otp's backoff).
    response = verify(client, right)
    assert "Too many wrong codes" in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_a_code_is_accepted_once(support):
    device = confirmed_totp_device(support)
    code = totp_code(device)
    first, second = Client(), Client()
    password_login(first, support)
    password_login(second, support)
    assert verify(first, code).status_code == 302
    response = verify(second, code)  # someone who saw the code over a shoulder
    assert response.status_code == 200 and "That code is not right" in response.content.decode()
    assert second.get("/admin/").status_code == 302


def test_another_users_device_does_not_verify(client, support):
    other = UserFactory(username="other-support", is_staff=True)
    their_device = confirmed_totp_device(other)
    confirmed_totp_device(support)
    password_login(client, support)
    verify(client, totp_code(their_device))
    assert client.get("/admin/").status_code == 302


def test_verifying_gives_the_session_a_new_key(client, support):
    device = confirmed_totp_device(support)
    password_login(client, support)
    before = client.session.session_key
    verify(client, totp_code(device))
    assert client.session.session_key != before


def test_removing_a_device_ends_what_it_verified(client, support):
    device = confirmed_totp_device(support)
    password_login(client, support)
    verify(client, totp_code(device))
    assert client.get("/admin/").status_code == 200
    device.delete()
    assert client.get("/admin/").status_code == 302


def test_staff_without_a_device_are_told_how_to_enrol(client, support):
    password_login(client, support)
    response = client.get(VERIFY)
    html = response.content.decode()
    assert response.status_code == 403
    assert "python manage.py staff_totp_enroll support" in html
    assert '<form method="post">' not in html  # no code to check, no secret handed out
    assert verify(client, "123456").status_code == 403
    assert client.get("/admin/").status_code == 302


def secret_of(uri: str) -> bytes:
    query = parse_qs(urlparse(uri).query)
    return b32decode(query["secret"][0])


def test_enrolment_prints_a_uri_once_and_the_first_code_confirms_it(client, support, caplog):
    caplog.set_level(logging.DEBUG)
    out = io.StringIO()
    call_command("staff_totp_enroll", "support", stdout=out)
    printed = out.getvalue()
    uri = re.search(r"otpauth://\S+", printed).group(0)
    assert uri.startswith("otpauth://totp/Outreach%3Asupport?secret=")
    assert "issuer=Outreach" in uri
    device = StaffTotpDevice.objects.get(user=support)
    assert not device.confirmed
    assert secret_of(uri) == device.bin_key
    key = parse_qs(urlparse(uri).query)["secret"][0]
    assert f"type the key by hand: {key}" in printed
    hex_key = device.bin_key.hex()
    for shown in (key, hex_key, device.key_encrypted):
        assert shown not in caplog.text  # printed, never logged

    password_login(client, support)
    page = client.get(VERIFY).content.decode()
    assert "Finish setting up your authenticator app" in page
    assert key not in page and hex_key not in page  # the page never shows the secret

    # The authenticator app computes the code from the URI's secret alone.
    totp = TOTP(secret_of(uri))
    assert verify(client, f"{totp.token():06d}").status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/admin/").status_code == 200


def test_enrolment_refuses_to_replace_a_confirmed_device_unless_asked(support):
    old = confirmed_totp_device(support)
    with pytest.raises(CommandError, match="already has a confirmed authenticator app"):
        call_command("staff_totp_enroll", "support", stdout=io.StringIO())
    call_command("staff_totp_enroll", "support", "--replace", stdout=io.StringIO())
    assert not StaffTotpDevice.objects.filter(pk=old.pk).exists()
    assert StaffTotpDevice.objects.filter(user=support, confirmed=False).count() == 1


def test_enrolling_again_before_confirming_replaces_the_waiting_device(support):
    call_command("staff_totp_enroll", "support", stdout=io.StringIO())
    first = StaffTotpDevice.objects.get(user=support)
    call_command("staff_totp_enroll", "support", stdout=io.StringIO())
    assert list(StaffTotpDevice.objects.filter(user=support)) != [first]
    assert StaffTotpDevice.objects.filter(user=support).count() == 1


def test_enrolment_is_for_existing_staff_only(db):
    with pytest.raises(CommandError, match="No user is called 'nobody'"):
        call_command("staff_totp_enroll", "nobody", stdout=io.StringIO())
    rob = recruiter()
    with pytest.raises(CommandError, match="is not support staff"):
        call_command("staff_totp_enroll", rob.username, stdout=io.StringIO())
    assert not StaffTotpDevice.objects.exists()


def test_with_the_requirement_off_the_password_is_enough(client, support, settings):
    settings.STAFF_REQUIRE_2FA = False
    password_login(client, support)
    assert client.get("/admin/").status_code == 200
    assert client.get(VERIFY)["Location"] == "/admin/"


def test_the_verify_page_is_for_signed_in_staff(client, support):
    response = client.get(VERIFY)
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
    client.force_login(recruiter())
    assert client.get(VERIFY)["Location"] == reverse("home")


def test_the_verify_page_only_returns_to_this_site(client, support):
    device = confirmed_totp_device(support)
    password_login(client, support)
    response = verify(client, totp_code(device), next_url="https://evil.example/admin/")
    assert response["Location"] == "/admin/"


def test_the_verify_form_needs_a_csrf_token(support):
    device = confirmed_totp_device(support)
    client = Client(enforce_csrf_checks=True)
    client.force_login(support)
    assert client.post(VERIFY, {"code": totp_code(device)}).status_code == 403


def test_logging_out_of_the_admin_needs_no_code(client, support):
    confirmed_totp_device(support)
    password_login(client, support)
    response = client.post("/admin/logout/")
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session


def test_the_admin_lists_devices_without_their_secret_and_cannot_add_one(client, support):
    device = confirmed_totp_device(support)
    password_login(client, support)
    verify(client, totp_code(device))
    pages = [
        client.get(reverse(f"admin:accounts_stafftotpdevice_{view}", args=args))
        for view, args in (
            ("changelist", []),
            ("change", [device.pk]),
            ("delete", [device.pk]),
            ("history", [device.pk]),
        )
    ]
    assert [page.status_code for page in pages] == [200] * 4
    device.refresh_from_db()
    secret = parse_qs(urlparse(device.config_url).query)["secret"][0]
    for page in pages:
        html = page.content.decode()
        for shown in (secret, device.bin_key.hex(), device.key_encrypted):
            assert shown not in html
            assert shown.lower() not in html.lower()
    assert client.get(reverse("admin:accounts_stafftotpdevice_add")).status_code == 403
