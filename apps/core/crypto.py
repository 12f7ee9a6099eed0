"""Encryption of secrets stored in the database (Greenhouse client secrets, later others) and in
the cache. Generic, so it is core's: any app keeps a secret the same way.

Keys come from settings.FIELD_ENCRYPTION_KEYS: the first key encrypts, every key decrypts, so a
new key is put first, `manage.py rotate_encryption_keys` re-encrypts with it, and only then are the
old keys removed. A value that no key decrypts raises SecretDecryptionError: never returns the
ciphertext in its place, and never puts the ciphertext in the message.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretDecryptionError(ImproperlyConfigured):
    def __init__(self):
        super().__init__(
            "A stored secret could not be decrypted with any key in FIELD_ENCRYPTION_KEYS. "
            "Restore the key it was encrypted with, or enter the secret again."
        )


_fernets: dict[tuple[str, ...], MultiFernet] = {}


def _multi_fernet() -> MultiFernet:
    keys = tuple(settings.FIELD_ENCRYPTION_KEYS)
    if keys not in _fernets:
        if not keys:
            raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty.")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.strip()))
            except (ValueError, TypeError):
                # The key itself stays out of the message.
                raise ImproperlyConfigured(
                    f"FIELD_ENCRYPTION_KEYS: key #{position} is not a valid Fernet key "
                    "(generate one with `manage.py generate_encryption_key`)."
                ) from None
        _fernets[keys] = MultiFernet(fernets)
    return _fernets[keys]


def encrypt(value: str) -> str:
    return _multi_fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _multi_fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretDecryptionError() from None


def rotate(token: str) -> str:
    """The same secret, encrypted with the first key."""
    try:
        return _multi_fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretDecryptionError() from None


def generate_key() -> str:
    return Fernet.generate_key().decode()
