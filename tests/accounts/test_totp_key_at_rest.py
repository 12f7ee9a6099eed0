"""Support staff's TOTP keys at rest: only ciphertext in the database, the verification rules of
django-otp's TOTPDevice (tolerance, one use per time step, drift, throttling) on our device,
django-otp's session machinery finding it, and key rotation re-encrypting it."""

import importlib
import io
import time
from base64 import b32encode
from datetime import UTC, datetime
from types import SimpleNamespace

import django_otp
import pytest
from cryptography.fernet import Fernet
from django.apps import apps as installed_apps
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import RequestFactory
from django_otp.models import Device

from apps.accounts.models import StaffTotpDevice, encrypted_key
from apps.accounts.two_factor import staff_totp_keys_rotate
from tests.fixtures.staff import confirmed_totp_device, totp_code
from tests.teams.factories import UserFactory

pytestmark = pytest.mark.django_db

HEX_KEY = "3132333435363738393031323334353637383930"  # RFC 6238's test key, "1234...90"


@pytest.fixture
def keys(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    return old, new


@pytest.fixture
def staff(db):
    return UserFactory(username="support", is_staff=True)


def stored(device) -> str:
    return StaffTotpDevice.objects.values_list("key_encrypted", flat=True).get(pk=device.pk)


def every_column(device) -> str:
    """Every value of the device's row as the database returns it, as text."""
    table = StaffTotpDevice._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [device.pk])  # noqa: S608
        return " ".join(str(value) for value in cursor.fetchone())


def test_the_database_holds_only_ciphertext_of_the_key(keys, staff):
    device = confirmed_totp_device(staff)
    hex_key = device.bin_key.hex()
    base32_key = b32encode(device.bin_key).decode()
    assert len(device.bin_key) == 20

    raw = every_column(device)
    for form in (hex_key, hex_key.upper(), base32_key, base32_key.lower()):
        assert form not in raw
    assert Fernet(keys[0]).decrypt(stored(device).encode()).decode() == hex_key


def test_each_device_gets_its_own_key(keys, staff):
    other = UserFactory(username="other", is_staff=True)
    assert confirmed_totp_device(staff).bin_key != confirmed_totp_device(other).bin_key


def test_a_key_that_is_not_hex_is_refused():
    with pytest.raises(ValueError):
        encrypted_key("not a hex key")


def test_a_code_computed_from_the_key_verifies(keys, staff):
    device = StaffTotpDevice.objects.create(user=staff, key_encrypted=encrypted_key(HEX_KEY))
    assert device.bin_key == b"12345678901234567890"
    step_before = int(time.time()) // device.step
    assert device.verify_token(totp_code(device)) is True
    step_after = int(time.time()) // device.step
    device.refresh_from_db()
    assert device.last_used_at is not None
    assert step_before <= device.last_t <= step_after


def test_rfc_6238_vector(keys, staff):
    """The algorithm is the authenticator apps' one: RFC 6238's SHA-1 vector at T=59."""
    device = StaffTotpDevice.objects.create(
        user=staff, key_encrypted=encrypted_key(HEX_KEY), digits=8
    )
    assert totp_code(device, at=59) == "94287082"


def test_a_code_is_accepted_once_and_an_older_one_never_after(keys, staff):
    device = confirmed_totp_device(staff)
    now = time.time()
    earlier = totp_code(device, at=now - device.step)
    code = totp_code(device, at=now)
    assert device.verify_token(code)
    assert not StaffTotpDevice.objects.get(pk=device.pk).verify_token(code)  # replayed
    device = StaffTotpDevice.objects.get(pk=device.pk)
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save()
    assert not device.verify_token(earlier)  # within tolerance, but before the last one


def test_codes_outside_the_tolerance_are_refused(keys, staff, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # each attempt on its own here
    device = confirmed_totp_device(staff)
    now = time.time()
    for steps in (-3, 3):
        assert not device.verify_token(totp_code(device, at=now + steps * device.step))
    assert not device.verify_token("not a number")
    assert device.verify_token(totp_code(device, at=now + device.step))  # tolerance 1
    device.refresh_from_db()
    assert device.drift == 1  # the app's clock is a step ahead: remembered (OTP_TOTP_SYNC)


def test_wrong_codes_throttle_even_the_right_one(keys, staff, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 600  # the backoff outlasts any slowness of this test
    device = confirmed_totp_device(staff)
    now = time.time()
    valid = {totp_code(device, at=now + step * device.step) for step in (-1, 0, 1)}
    wrong = next(code for code in ("000000", "111111", "222222") if code not in valid)
    assert not device.verify_token(wrong)
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    allowed, _ = device.verify_is_allowed()
    assert not allowed
    assert not device.verify_token(totp_code(device))  # right, but too soon
    device.refresh_from_db()
    assert device.last_t == -1

    # Once the backoff has passed, the right code is accepted and the count starts again.
    StaffTotpDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=device.throttling_failure_timestamp.replace(year=2000)
    )
    device.refresh_from_db()
    assert device.verify_token(totp_code(device))
    device.refresh_from_db()
    assert device.throttling_failure_count == 0 and device.throttling_failure_timestamp is None


def test_verifying_never_rewrites_the_key(keys, staff):
    device = confirmed_totp_device(staff)
    before = stored(device)
    device.verify_token("000000")
    device.verify_is_allowed()
    assert stored(device) == before


def test_django_otp_finds_the_device_and_verifies_the_session(keys, staff):
    """django_otp.login() stores the device's persistent id in the session; OTPMiddleware
    loads it back through Device.from_persistent_id; devices_for_user lists it."""
    device = confirmed_totp_device(staff)
    assert StaffTotpDevice in list(django_otp.device_classes())
    assert list(django_otp.devices_for_user(staff)) == [device]
    assert Device.from_persistent_id(device.persistent_id) == device
    assert device.persistent_id == f"accounts.stafftotpdevice/{device.pk}"

    from django_otp.middleware import OTPMiddleware

    request = RequestFactory().get("/")
    request.session = {}
    request.user = staff
    django_otp.login(request, device)
    assert request.session[django_otp.DEVICE_ID_SESSION_KEY] == device.persistent_id

    later = RequestFactory().get("/")
    later.session = request.session
    later.user = staff
    OTPMiddleware(lambda req: req)(later)
    assert later.user.is_verified() and later.user.otp_device == device


def test_the_otp_totp_app_is_gone():
    assert not installed_apps.is_installed("django_otp.plugins.otp_totp")
    assert installed_apps.is_installed("django_otp")


def test_rotation_re_encrypts_the_keys_and_old_keys_decrypt_until_then(keys, staff, settings):
    old, new = keys
    device = confirmed_totp_device(staff)
    hex_key = device.bin_key.hex()
    before = stored(device)

    settings.FIELD_ENCRYPTION_KEYS = [new, old]  # a new key first; the old one still decrypts
    assert StaffTotpDevice.objects.get(pk=device.pk).bin_key.hex() == hex_key

    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "Re-encrypted 1 staff authenticator app key." in out.getvalue()
    after = stored(device)
    assert after != before
    assert Fernet(new).decrypt(after.encode()).decode() == hex_key

    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key removed: codes still verify
    device = StaffTotpDevice.objects.get(pk=device.pk)
    assert device.bin_key.hex() == hex_key
    assert device.verify_token(totp_code(device))


def test_rotation_reports_keys_no_key_decrypts_and_keeps_them(keys, staff, settings):
    lost = confirmed_totp_device(staff)
    lost_value = stored(lost)
    settings.FIELD_ENCRYPTION_KEYS = [keys[1]]
    fine = confirmed_totp_device(UserFactory(username="other", is_staff=True))

    with pytest.raises(CommandError, match=rf"support \(device id {lost.pk}\)") as caught:
        call_command("rotate_encryption_keys", stdout=io.StringIO())
    assert "--replace" in str(caught.value) and lost_value not in str(caught.value)
    assert stored(lost) == lost_value  # nothing lost
    assert StaffTotpDevice.objects.get(pk=fine.pk).verify_token(totp_code(fine))


def test_rotation_keeps_a_key_enrolled_meanwhile(keys, staff, settings, monkeypatch):
    """The UPDATE is conditional on the ciphertext read: a device whose key changed between the
    read and the write keeps its new key."""
    device = confirmed_totp_device(staff)
    settings.FIELD_ENCRYPTION_KEYS = [keys[1], keys[0]]
    replacement = encrypted_key(HEX_KEY)

    from apps.core import crypto

    real_rotate = crypto.rotate

    def rotate_while_someone_enrols(token):
        StaffTotpDevice.objects.filter(pk=device.pk).update(key_encrypted=replacement)
        return real_rotate(token)

    monkeypatch.setattr(crypto, "rotate", rotate_while_someone_enrols)
    staff_totp_keys_rotate()
    assert stored(device) == replacement


def test_the_migration_moves_otp_totp_devices_encrypting_their_keys(keys, staff):
    """A database that had django-otp's otp_totp app: its devices carry over with their key
    encrypted, the plaintext rows are deleted, and the authenticator app keeps working."""
    migration = importlib.import_module("apps.accounts.migrations.0002_move_otp_totp_devices")
    timestamp = "timestamp with time zone" if connection.vendor == "postgresql" else "datetime"
    created = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE otp_totp_totpdevice (id integer PRIMARY KEY, name varchar(64), "
            'confirmed boolean, user_id integer, "key" varchar(80), step integer, t0 bigint, '
            "digits integer, tolerance integer, drift integer, last_t bigint, "
            f"throttling_failure_timestamp {timestamp} NULL, throttling_failure_count integer, "
            f"created_at {timestamp} NULL, last_used_at {timestamp} NULL)"
        )
        cursor.execute(
            "INSERT INTO otp_totp_totpdevice VALUES "
            "(7, 'Phone', %s, %s, %s, 30, 0, 6, 1, 0, 12345, NULL, 0, %s, NULL)",
            [True, staff.pk, HEX_KEY, connection.ops.adapt_datetimefield_value(created)],
        )
    editor = SimpleNamespace(connection=connection, quote_name=connection.ops.quote_name)
    migration.move_devices(installed_apps, editor)

    device = StaffTotpDevice.objects.get(user=staff)
    assert (device.name, device.confirmed, device.last_t) == ("Phone", True, 12345)
    assert device.created_at == created
    assert device.bin_key.hex() == HEX_KEY
    assert HEX_KEY not in every_column(device)
    assert device.verify_token(totp_code(device))
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM otp_totp_totpdevice")
        assert cursor.fetchone()[0] == 0  # the plaintext keys are gone


def test_the_migration_has_nothing_to_do_without_otp_totp(keys, staff):
    migration = importlib.import_module("apps.accounts.migrations.0002_move_otp_totp_devices")
    editor = SimpleNamespace(connection=connection, quote_name=connection.ops.quote_name)
    migration.move_devices(installed_apps, editor)
    assert not StaffTotpDevice.objects.exists()
