"""Client secrets at rest: ciphertext in the database, loud failure on a wrong key, key rotation."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.core import crypto
from apps.greenhouse.models import GreenhouseIntegration
from tests.greenhouse.factories import GreenhouseIntegrationFactory

SECRET = "client-secret-Jd82Ks91Lq"


def stored_value(integration) -> str:
    """The column as stored (the model never decrypts on load)."""
    return GreenhouseIntegration.objects.values_list("client_secret_encrypted", flat=True).get(
        pk=integration.pk
    )


@pytest.fixture
def keys(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    return old, new


def test_the_database_holds_ciphertext_only(db, keys):
    integration = GreenhouseIntegrationFactory(client_secret=SECRET)

    raw = stored_value(integration)
    assert SECRET not in raw
    assert Fernet(keys[0]).decrypt(raw.encode()).decode() == SECRET
    assert GreenhouseIntegration.objects.get(pk=integration.pk).get_client_secret() == SECRET


def test_a_wrong_key_fails_loudly_without_showing_the_ciphertext(db, keys, settings):
    integration = GreenhouseIntegrationFactory(client_secret=SECRET)
    settings.FIELD_ENCRYPTION_KEYS = [keys[1]]

    with pytest.raises(crypto.SecretDecryptionError) as caught:
        GreenhouseIntegration.objects.get(pk=integration.pk).get_client_secret()
    assert isinstance(caught.value, ImproperlyConfigured)
    assert stored_value(integration) not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_malformed_key_is_a_configuration_error_that_does_not_echo_it(settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), "not-a-key-abc123"]

    with pytest.raises(ImproperlyConfigured, match="key #2") as caught:
        crypto.encrypt("x")
    assert "not-a-key-abc123" not in str(caught.value)


def test_rotation_re_encrypts_with_the_first_key_and_old_keys_decrypt_until_then(
    db, keys, settings
):
    old, new = keys
    integration = GreenhouseIntegrationFactory(client_secret=SECRET)
    before = stored_value(integration)

    settings.FIELD_ENCRYPTION_KEYS = [new, old]  # a new key first; the old one still decrypts
    assert GreenhouseIntegration.objects.get(pk=integration.pk).get_client_secret() == SECRET

    call_command("rotate_encryption_keys")
    after = stored_value(integration)
    assert after != before
    assert Fernet(new).decrypt(after.encode()).decode() == SECRET

    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key removed
    assert GreenhouseIntegration.objects.get(pk=integration.pk).get_client_secret() == SECRET


def test_rotation_reports_secrets_no_key_decrypts_and_keeps_them(db, keys, settings):
    lost = GreenhouseIntegrationFactory(client_secret=SECRET)
    settings.FIELD_ENCRYPTION_KEYS = [keys[1]]
    fine = GreenhouseIntegrationFactory(client_secret="another-secret-0123")
    lost_value = stored_value(lost)

    with pytest.raises(CommandError, match=f"id {lost.pk}"):
        call_command("rotate_encryption_keys")

    assert stored_value(lost) == lost_value  # nothing lost
    assert (
        GreenhouseIntegration.objects.get(pk=fine.pk).get_client_secret() == "another-secret-0123"
    )


def test_generate_encryption_key_prints_a_usable_key(capsys, settings):
    call_command("generate_encryption_key")
    key = capsys.readouterr().out.strip()

    settings.FIELD_ENCRYPTION_KEYS = [key]
    assert crypto.decrypt(crypto.encrypt("round trip")) == "round trip"
