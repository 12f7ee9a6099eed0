"""The fixed development secrets (the Anymail webhook secret, the Twilio token) are public, in this
repository. They are the fallback only with DEV_TOOLS on a loopback-only deployment, `check
--deploy` describes the secret in effect, and a public deployment with them is an Error. Each
case runs Django in a fresh process with exactly the variables given, as a deployment would."""

import json

import pytest

from apps.core.hosts import is_loopback_host, loopback_only
from tests.core.test_settings import PRODUCTION, run_django

DEV_SECRET = "dev:dev-anymail-webhook-secret"
DEV_TOKEN = "dev-twilio-token"
PUBLIC = {
    "PUBLIC_BASE_URL": "https://outreach.example.com",
    "ALLOWED_HOSTS": "outreach.example.com",
}

SECRETS_PROBE = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({"anymail": s.ANYMAIL["WEBHOOK_SECRET"], "twilio": s.TWILIO_AUTH_TOKEN}))
"""


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST.",
        "app.localhost",
        ".localhost",
        "127.0.0.1",
        "127.8.0.1",
        "::1",
        "[::1]",
    ],
)
def test_loopback_hosts(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "outreach.example.com",
        "*",
        "",
        "0.0.0.0",  # noqa: S104
        "10.0.0.5",
        "192.168.1.2",
        "[::]",
        "localhost.example.com",
        "testserver",
    ],
)
def test_hosts_reachable_from_elsewhere(host):
    assert not is_loopback_host(host)


def test_a_deployment_is_loopback_only_when_every_host_and_the_public_url_are():
    local = "http://127.0.0.1:8000"
    assert loopback_only(allowed_hosts=["127.0.0.1", "localhost"], public_base_url=local)
    assert loopback_only(allowed_hosts=[], public_base_url=local)
    assert not loopback_only(allowed_hosts=["127.0.0.1", "*"], public_base_url=local)
    assert not loopback_only(allowed_hosts=["127.0.0.1"], public_base_url="https://x.example")
    assert not loopback_only(allowed_hosts=["x.example"], public_base_url=local)


def secrets_in_effect(env_vars, tmp_path):
    result = run_django(SECRETS_PROBE, env_vars, tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_dev_tools_on_loopback_use_the_fixed_secrets(tmp_path):
    found = secrets_in_effect({"DEBUG": "true"}, tmp_path)
    assert found == {"anymail": [DEV_SECRET], "twilio": DEV_TOKEN}


def test_dev_tools_on_a_public_host_do_not(tmp_path):
    found = secrets_in_effect({"DEV_TOOLS": "true", **PUBLIC}, tmp_path)
    assert len(found["anymail"]) == 1
    assert found["anymail"][0].startswith("unset:")  # random: every call refused
    assert found["twilio"] == ""  # Twilio webhooks answer 403


def check_deploy(env_vars, tmp_path):
    result = run_django(["manage.py", "check", "--deploy"], env_vars, tmp_path)
    return result.returncode, result.stdout + result.stderr


def test_a_public_deployment_with_the_fixed_secrets_is_an_error(tmp_path):
    env = {**PRODUCTION, "ANYMAIL_WEBHOOK_SECRET": DEV_SECRET, "TWILIO_AUTH_TOKEN": DEV_TOKEN}
    returncode, output = check_deploy(env, tmp_path)
    assert returncode != 0  # Errors stop `check --deploy`, whatever the --fail-level
    assert "ERRORS:" in output
    assert "messaging.E001" in output and "messaging.E002" in output
    assert "fixed development secret, which is public" in output
    # The checks describe the secret; they never print it.
    assert DEV_SECRET not in output and "dev-anymail-webhook-secret" not in output
    assert DEV_TOKEN not in output


def test_a_loopback_deployment_may_use_them_and_is_told_which_secret_is_in_effect(tmp_path):
    returncode, output = check_deploy({"DEBUG": "true", "STAFF_REQUIRE_2FA": "true"}, tmp_path)
    assert returncode == 0, output  # warnings only
    assert "messaging.E001" not in output and "messaging.E002" not in output
    assert "webhook secret in effect is the fixed development secret" in output
    assert "TWILIO_AUTH_TOKEN in effect is the fixed development token" in output
    # Not the old, false "every Anymail webhook call is refused".
    assert "refused" not in output
    assert DEV_SECRET not in output and DEV_TOKEN not in output


def test_unset_secrets_on_a_public_host_are_described_as_refusing_every_call(tmp_path):
    env = {
        key: value
        for key, value in PRODUCTION.items()
        if key not in ("ANYMAIL_WEBHOOK_SECRET", "TWILIO_AUTH_TOKEN")
    }
    returncode, output = check_deploy(
        {**env, "DEV_TOOLS": "true", "STAFF_REQUIRE_2FA": "true"}, tmp_path
    )
    assert returncode == 0, output
    assert "messaging.E001" not in output and "messaging.E002" not in output
    assert "a random secret is in effect, so every Anymail webhook call is refused" in output
    assert "TWILIO_AUTH_TOKEN is not set: the Twilio webhooks answer 403" in output
