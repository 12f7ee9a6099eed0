"""Support staff's authenticator app, with its TOTP key encrypted at rest.

django-otp's own TOTPDevice keeps the key as hex in the database: anyone who reads a backup or
the table could compute every staff member's codes. This device has the same fields and the
same verification rules (tolerance, replay protection with last_t, drift sync, throttling), but
the key is stored only as ciphertext (FIELD_ENCRYPTION_KEYS, rotated by
`manage.py rotate_encryption_keys`) and is decrypted only to compute a code or to print the
otpauth:// URI once at enrolment. django-otp finds it like any Device subclass of an installed
app, so `django_otp.login()`, OTPMiddleware and `user.is_verified()` work unchanged.
"""

import secrets
import time
from base64 import b32encode
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import models
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.oath import TOTP

from apps.core import crypto

KEY_BYTES = 20  # 160 bits, as RFC 4226 recommends and authenticator apps expect
# What a verification writes: never the key column, which only enrolment and
# `rotate_encryption_keys` (a conditional UPDATE) write.
THROTTLE_FIELDS = ["throttling_failure_timestamp", "throttling_failure_count"]


def encrypted_key(hex_key: str) -> str:
    """What `key_encrypted` holds for a hex key (the format of django-otp's TOTPDevice.key)."""
    bytes.fromhex(hex_key)  # a ValueError here, not a device whose codes never match
    return crypto.encrypt(hex_key)


def new_encrypted_key() -> str:
    """A fresh random key, encrypted: every device gets its own, and none exists unencrypted."""
    return encrypted_key(secrets.token_hex(KEY_BYTES))


class StaffTotpDevice(ThrottlingMixin, TimestampMixin, Device):
    """A time-based one-time password device (RFC 6238) of a support staff member.

    The key is write-once and never shown: `key_encrypted` holds it encrypted (hex inside), it
    is not editable in the admin, and only `bin_key` decrypts it. Raises
    crypto.SecretDecryptionError when no key of FIELD_ENCRYPTION_KEYS decrypts it.
    """

    key_encrypted = models.TextField(default=new_encrypted_key, editable=False)
    step = models.PositiveSmallIntegerField(default=30, help_text="The time step in seconds.")
    t0 = models.BigIntegerField(
        default=0, help_text="The Unix time at which to begin counting steps."
    )
    digits = models.PositiveSmallIntegerField(
        choices=[(6, 6), (8, 8)], default=6, help_text="The number of digits in a code."
    )
    tolerance = models.PositiveSmallIntegerField(
        default=1, help_text="The number of time steps in the past or future to allow."
    )
    drift = models.SmallIntegerField(
        default=0,
        help_text="The number of time steps the authenticator app is known to be off our clock.",
    )
    last_t = models.BigIntegerField(
        default=-1,
        help_text="The time step of the last code accepted; only later ones are accepted.",
    )

    class Meta(Device.Meta):
        verbose_name = "TOTP device"

    @property
    def bin_key(self) -> bytes:
        """The secret key as bytes (decrypted on each use, never kept on the instance)."""
        return bytes.fromhex(crypto.decrypt(self.key_encrypted))

    def verify_token(self, token) -> bool:
        """True if `token` is the code of a time step within `tolerance` of now (allowing for
        the known drift) and later than the last accepted one; a wrong code counts towards
        the throttle, a right one resets it. django-otp's TOTPDevice.verify_token, same rules."""
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        try:
            token = int(token)
        except (TypeError, ValueError):
            verified = False
        else:
            totp = TOTP(self.bin_key, self.step, self.t0, self.digits, self.drift)
            totp.time = time.time()
            verified = totp.verify(token, self.tolerance, self.last_t + 1)
            if verified:
                self.last_t = totp.t()
                if getattr(settings, "OTP_TOTP_SYNC", True):
                    self.drift = totp.drift
                self.throttle_reset(commit=False)
                self.set_last_used_timestamp(commit=False)
                self.save(update_fields=[*THROTTLE_FIELDS, "last_t", "drift", "last_used_at"])
        if not verified:
            self.throttle_increment(commit=False)
            self.save(update_fields=THROTTLE_FIELDS)
        return verified

    def get_throttle_factor(self):
        return getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1)

    @property
    def config_url(self) -> str:
        """The otpauth:// URI an authenticator app reads (Key Uri Format), with the issuer of
        OTP_TOTP_ISSUER. It contains the key: print it once, never log or display it."""
        label = str(self.user.get_username())
        params = urlencode(
            {
                "secret": b32encode(self.bin_key),
                "algorithm": "SHA1",
                "digits": self.digits,
                "period": self.step,
            }
        )
        issuer = (getattr(settings, "OTP_TOTP_ISSUER", "") or "").replace(":", "")
        if issuer:
            label = f"{issuer}:{label}"
            params += f"&issuer={quote(issuer)}"  # RFC 3986 encoding, as the format wants
        return f"otpauth://totp/{quote(label)}?{params}"
