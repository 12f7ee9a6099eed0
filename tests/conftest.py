import os

import pytest
from pytest_django.fixtures import _set_suffix_to_test_databases

# Shared fixtures. Fixture modules of each area live in tests/fixtures/ and are listed here.
pytest_plugins = [
    "tests.fixtures.worker",
    "tests.fixtures.harvest",
    "tests.fixtures.browser",
    "tests.fixtures.anymail",
    "tests.fixtures.messaging",
]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    # A test database per pytest run, so that two runs on one machine (a developer's and CI's,
    # or two terminals) never create or drop the database the other is using.
    _set_suffix_to_test_databases(suffix=os.environ.get("TEST_DB_SUFFIX", f"run{os.getpid()}"))


@pytest.fixture(autouse=True)
def _test_settings(settings):
    # Anymail's test backend: sent mail lands in django.core.mail.outbox with Anymail's status.
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Pages render without `collectstatic` (the manifest storage used without DEBUG needs it).
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
