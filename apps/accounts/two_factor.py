"""Support staff's second factor: a code from an authenticator app (our StaffTotpDevice).

Staff see every team in the admin, so a password alone must not open it when
STAFF_REQUIRE_2FA is on. Enrolment happens outside the web, with
`manage.py staff_totp_enroll <username>`: a page that handed a new secret to whoever knows the
password would let a stolen password enrol its own second factor. The command creates an
unconfirmed device and prints its otpauth:// URI once; the first right code on the verify page
confirms the device and verifies the session. A session is verified for its lifetime (the
idle timeout ends it); logging in again asks for a code again. The device's key is encrypted
at rest with FIELD_ENCRYPTION_KEYS; `staff_totp_keys_rotate` re-encrypts it with the newest key
(run by `manage.py rotate_encryption_keys`).
"""

from dataclasses import dataclass, field

import django_otp
from django.conf import settings
from django.db import transaction

from apps.core import crypto

from .models import StaffTotpDevice

DEVICE_NAME = "Authenticator app"


class TotpEnrolError(Exception):
    """Why a device was not created, in words for the operator."""


def staff_second_factor_required(user) -> bool:
    return bool(settings.STAFF_REQUIRE_2FA and user.is_authenticated and user.is_staff)


def staff_totp_device(*, user) -> StaffTotpDevice | None:
    """The device the verify page asks for a code: the confirmed one, else the one waiting for
    its first code, else None (not enrolled)."""
    return StaffTotpDevice.objects.filter(user=user).order_by("-confirmed", "-pk").first()


def staff_totp_enroll(*, user, replace: bool = False) -> StaffTotpDevice:
    """A new unconfirmed device for `user`. One that waited for its first code is replaced; a
    confirmed one only with `replace` (a lost phone), which also ends its verified sessions."""
    if not user.is_staff:
        raise TotpEnrolError(
            f"{user.get_username()} is not support staff; only staff need a second factor."
        )
    with transaction.atomic():
        devices = StaffTotpDevice.objects.select_for_update().filter(user=user)
        if not replace and any(device.confirmed for device in devices):
            raise TotpEnrolError(
                f"{user.get_username()} already has a confirmed authenticator app. Pass "
                "--replace to start again with a new one (the old one stops working now)."
            )
        devices.delete()
        return StaffTotpDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


def staff_session_verify(*, request, code: str) -> str | None:
    """Check `code` against the signed-in user's device; if right, confirm a new device and mark
    this session verified. Returns what to tell the user when it is not, else None."""
    user = request.user
    with transaction.atomic():
        # Locked, so two requests with the same code cannot both pass (django-otp remembers the
        # last time step used and accepts only later ones).
        device = (
            StaffTotpDevice.objects.select_for_update()
            .filter(user=user)
            .order_by("-confirmed", "-pk")
            .first()
        )
        if device is None:
            return "No authenticator app is set up for your account."
        allowed, _ = device.verify_is_allowed()
        if not allowed:
            return "Too many wrong codes in a row. Wait a minute, then enter the newest code."
        if not device.verify_token(code):
            return (
                "That code is not right. Enter the 6 digits your authenticator app shows now "
                "for Outreach."
            )
        if not device.confirmed:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
    # A new session key for the more privileged session, like a login.
    request.session.cycle_key()
    django_otp.login(request, device)
    return None


@dataclass
class TotpKeyRotation:
    rotated: int = 0
    failed: list[str] = field(default_factory=list)  # devices no key decrypts, by owner


def staff_totp_keys_rotate() -> TotpKeyRotation:
    """Re-encrypt every device's key with the first FIELD_ENCRYPTION_KEYS key. A key no
    configured key decrypts is left as it is (and reported), so nothing is lost."""
    result = TotpKeyRotation()
    for device in StaffTotpDevice.objects.select_related("user").order_by("pk"):
        old = device.key_encrypted
        try:
            new = crypto.rotate(old)
        except crypto.SecretDecryptionError:
            result.failed.append(f"{device.user.get_username()} (device id {device.pk})")
            continue
        # Conditional: a device enrolled again meanwhile already has a key under the new key.
        StaffTotpDevice.objects.filter(pk=device.pk, key_encrypted=old).update(key_encrypted=new)
        result.rotated += 1
    return result
