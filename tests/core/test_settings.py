"""Settings pick their backends from the environment. Each case runs Django in a fresh process with
exactly the variables given, as a deployment would."""

import json
import os
import subprocess
import sys

from django.conf import settings

# Variables the settings read; the parent's values (CI sets some) must not leak into a case.
OURS = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CACHE_URL",
    "EMAIL_BACKEND",
    "ANYMAIL_ESP",
    "SMS_BACKEND",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "DEBUG",
    "DEV_TOOLS",
    "PUBLIC_BASE_URL",
    "ALLOWED_HOSTS",
    "GREENHOUSE_API_BASE_URL",
    "GREENHOUSE_TOKEN_URL",
    "STAFF_REQUIRE_2FA",
    "SESSION_IDLE_TIMEOUT",
    "LOGIN_FAILURE_LIMIT",
    "LOGIN_COOLOFF_MINUTES",
    "TRUSTED_PROXY_COUNT",
    "GREENHOUSE_EXTRA_HOSTS",
    "GREENHOUSE_DEFAULT_HOST",
    "GREENHOUSE_SANDBOX_URL",
    "QUEUE_LEASE",
    "RABBITMQ_CONSUMER_TIMEOUT",
    "CELERY_QUEUE",
    "PORT",
    "SANDBOX_PORT",
)

PROBE = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "db": s.DATABASES["default"]["ENGINE"],
    "db_name": s.DATABASES["default"]["NAME"],
    "broker": s.CELERY_BROKER_URL,
    "cache": s.CACHES["default"]["BACKEND"],
    "email": s.EMAIL_BACKEND,
    "anymail": s.ANYMAIL,
    "sms": s.SMS_BACKEND,
    "debug": s.DEBUG,
    "greenhouse": s.GREENHOUSE_HOSTS[s.GREENHOUSE_DEFAULT_HOST]["api"],
    "greenhouse_hosts": sorted(s.GREENHOUSE_HOSTS),
    "hsts": s.SECURE_HSTS_SECONDS,
    "secure_cookies": s.SESSION_COOKIE_SECURE,
    "staff_2fa": s.STAFF_REQUIRE_2FA,
    "session_idle": s.SESSION_COOKIE_AGE if s.SESSION_SAVE_EVERY_REQUEST else None,
    "login_limit": s.AXES_FAILURE_LIMIT,
    "login_cooloff": s.AXES_COOLOFF_TIME.total_seconds(),
    "proxies": s.TRUSTED_PROXY_COUNT,
}))
"""

PRODUCTION = {
    "DATABASE_URL": "postgres://app:pw@db.internal:5432/outreach",
    "CELERY_BROKER_URL": "redis://cache.internal:6379/0",
    "CACHE_URL": "redis://cache.internal:6379/1",
    "ANYMAIL_ESP": "postmark",
    "ANYMAIL_POSTMARK_SERVER_TOKEN": "server-token",
    "ANYMAIL_WEBHOOK_SECRET": "user:pass",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "twilio-token",
    "SECRET_KEY": "x" * 64 + "-production-secret-key-long-enough",
    "FIELD_ENCRYPTION_KEYS": "KFn1uQkCNk8VdyJOnGZC4Jp1j1c2Dbt8tYyz6Sbq3Mw=",
    "PUBLIC_BASE_URL": "https://outreach.example.com",
    "ALLOWED_HOSTS": "outreach.example.com",
}


def run_django(code_or_args, env_vars, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in OURS and not k.startswith("ANYMAIL_")}
    env.update(env_vars)
    env["VAR_DIR"] = str(tmp_path)  # keep the probe's dev keys and files out of the checkout
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    args = ["-c", code_or_args] if isinstance(code_or_args, str) else code_or_args
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=settings.BASE_DIR, capture_output=True, text=True
    )


def probe(env_vars, tmp_path):
    result = run_django(PROBE, env_vars, tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_with_nothing_set_the_embedded_default_needs_no_server(tmp_path):
    found = probe({}, tmp_path)
    assert found["db"] == "django.db.backends.sqlite3"
    assert found["db_name"] == str(tmp_path / "db.sqlite3")
    assert found["broker"].startswith("filesystem://")
    assert found["cache"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert found["email"] == "apps.messaging.backends.DevOutboxEmailBackend"
    assert found["sms"] == "apps.messaging.sms.dev.DevOutboxSmsBackend"
    assert found["debug"] is False
    assert found["greenhouse"] == "https://harvest.greenhouse.io"
    assert found["staff_2fa"] is True
    assert found["session_idle"] == 2 * 3600
    assert (found["login_limit"], found["login_cooloff"], found["proxies"]) == (5, 900, 0)


def test_development_tools_point_greenhouse_at_the_local_sandbox(tmp_path):
    found = probe({"DEBUG": "true"}, tmp_path)
    assert found["debug"] is True
    assert found["greenhouse"].startswith("http://127.0.0.1:")
    assert found["staff_2fa"] is False  # the demo's support login works with its password
    assert found["greenhouse_hosts"] == ["greenhouse", "sandbox"]


def test_account_protections_are_set_from_the_environment(tmp_path):
    found = probe(
        {
            "DEBUG": "true",
            "STAFF_REQUIRE_2FA": "true",
            "SESSION_IDLE_TIMEOUT": "900",
            "LOGIN_FAILURE_LIMIT": "10",
            "LOGIN_COOLOFF_MINUTES": "30",
            "TRUSTED_PROXY_COUNT": "1",
        },
        tmp_path,
    )
    assert found["staff_2fa"] is True
    assert found["session_idle"] == 900
    assert (found["login_limit"], found["login_cooloff"], found["proxies"]) == (10, 1800, 1)


def test_production_has_no_sandbox_host_and_operators_add_profiles(tmp_path):
    assert probe({}, tmp_path)["greenhouse_hosts"] == ["greenhouse"]
    extra = {
        "proxy": {
            "label": "Our proxy",
            "api": "https://gh.internal",
            "token": "https://gh.internal/t",
        }
    }
    found = probe(
        {"GREENHOUSE_EXTRA_HOSTS": json.dumps(extra), "GREENHOUSE_DEFAULT_HOST": "proxy"}, tmp_path
    )
    assert found["greenhouse_hosts"] == ["greenhouse", "proxy"]
    assert found["greenhouse"] == "https://gh.internal"


def test_a_bad_host_profile_stops_the_start(tmp_path):
    bad = {"GREENHOUSE_EXTRA_HOSTS": json.dumps({"x": {"api": "ftp://files", "token": "t"}})}
    result = run_django(["manage.py", "check"], bad, tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured: GREENHOUSE_HOSTS['x']['api'] not an absolute" in result.stderr
    result = run_django(["manage.py", "check"], {"GREENHOUSE_DEFAULT_HOST": "nope"}, tmp_path)
    assert result.returncode != 0 and "GREENHOUSE_DEFAULT_HOST 'nope'" in result.stderr
    result = run_django(["manage.py", "check"], {"GREENHOUSE_EXTRA_HOSTS": "[1"}, tmp_path)
    assert result.returncode != 0 and "GREENHOUSE_EXTRA_HOSTS is not a JSON object" in result.stderr


def test_production_variables_select_postgres_redis_anymail_and_twilio(tmp_path):
    found = probe(PRODUCTION, tmp_path)
    assert found["db"] == "django.db.backends.postgresql"
    assert found["broker"] == "redis://cache.internal:6379/0"
    assert found["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert found["email"] == "anymail.backends.postmark.EmailBackend"
    assert found["anymail"]["POSTMARK_SERVER_TOKEN"] == "server-token"
    assert found["anymail"]["WEBHOOK_SECRET"] == ["user:pass"]
    assert found["sms"] == "apps.messaging.sms.twilio.TwilioSmsBackend"
    assert found["hsts"] == 31_536_000
    assert found["secure_cookies"] is True


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    command = ["manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    result = run_django(command, PRODUCTION, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_refuses_production_without_staff_second_factor(tmp_path):
    command = ["manage.py", "check", "--deploy"]
    result = run_django(command, {**PRODUCTION, "STAFF_REQUIRE_2FA": "false"}, tmp_path)
    assert result.returncode != 0  # an Error, not a warning
    assert "outreach.E001" in result.stderr
    assert "STAFF_REQUIRE_2FA is off" in result.stderr


def test_check_deploy_warns_of_a_greenhouse_host_on_plain_http(tmp_path):
    extra = {"proxy": {"api": "http://gh-proxy.internal", "token": "https://gh.example/t"}}
    command = ["manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    result = run_django(
        command, {**PRODUCTION, "GREENHOUSE_EXTRA_HOSTS": json.dumps(extra)}, tmp_path
    )
    assert result.returncode != 0
    assert "greenhouse.W001" in result.stderr and "plain http to gh-proxy.internal" in result.stderr


def test_check_deploy_names_every_embedded_default_left_in_place(tmp_path):
    result = run_django(["manage.py", "check", "--deploy"], {"DEBUG": "true"}, tmp_path)
    output = result.stdout + result.stderr
    for check_id in ("W001", "W002", "W003", "W004", "W005", "W006", "W007", "W008"):
        assert f"outreach.{check_id}" in output


QUEUES_PROBE = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "lease": s.QUEUE_LEASE,
    "transport": s.CELERY_BROKER_TRANSPORT_OPTIONS,
    "held": s.GREENHOUSE_SYNC_LANE_HORIZON
    + s.CELERY_TASK_TIME_LIMIT * (1 + s.CELERY_WORKER_PREFETCH_MULTIPLIER),
    "queues": [q.name for q in s.CELERY_TASK_QUEUES],
    "default_queue": s.CELERY_TASK_DEFAULT_QUEUE,
    "acks_late": s.CELERY_TASK_ACKS_LATE,
    "reject_on_worker_lost": s.CELERY_TASK_REJECT_ON_WORKER_LOST,
    "prefetch": s.CELERY_WORKER_PREFETCH_MULTIPLIER,
    "cancel_on_connection_loss": s.CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS,
}))
"""


def test_redis_gives_a_held_message_back_after_the_queue_lease_never_while_a_worker_has_it(
    tmp_path,
):
    result = run_django(QUEUES_PROBE, PRODUCTION, tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    # One time for lost work on both paths: the sweepers' lease and Redis's visibility timeout.
    assert found["transport"]["visibility_timeout"] == found["lease"] == 600
    # A live worker holds a message at most a lane's countdown, one reserved wait, its own run.
    assert found["lease"] >= found["held"]

    longer = json.loads(
        run_django(QUEUES_PROBE, {**PRODUCTION, "QUEUE_LEASE": "900"}, tmp_path).stdout
    )
    assert longer["transport"]["visibility_timeout"] == 900


def test_a_queue_lease_shorter_than_a_worker_may_hold_a_message_stops_the_start(tmp_path):
    result = run_django(["manage.py", "check"], {**PRODUCTION, "QUEUE_LEASE": "120"}, tmp_path)
    assert result.returncode != 0
    assert "QUEUE_LEASE (120 s) must be at least 600 s" in result.stderr


RABBITMQ = {**PRODUCTION, "CELERY_BROKER_URL": "amqp://app:pw@mq.internal:5672/outreach"}


def test_rabbitmq_confirms_every_publish_and_gives_messages_back_only_when_a_consumer_goes(
    tmp_path,
):
    result = run_django(QUEUES_PROBE, RABBITMQ, tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    # No visibility timeout on RabbitMQ; a publish it did not take raises, so the outbox gives
    # the lease back (a message to a node going down is not lost silently).
    assert found["transport"] == {"confirm_publish": True}
    # Acknowledged after the task; a dead child's message goes back; one message per process.
    assert found["acks_late"] and found["reject_on_worker_lost"] and found["prefetch"] == 1
    # A lost connection leaves running tasks alone (their copies find the work claimed).
    assert found["cancel_on_connection_loss"] is False


def test_a_rabbitmq_consumer_timeout_shorter_than_a_worker_may_hold_a_message_stops_the_start(
    tmp_path,
):
    ok = run_django(
        ["manage.py", "check"], {**RABBITMQ, "RABBITMQ_CONSUMER_TIMEOUT": "900"}, tmp_path
    )
    assert ok.returncode == 0, ok.stderr
    result = run_django(
        ["manage.py", "check"], {**RABBITMQ, "RABBITMQ_CONSUMER_TIMEOUT": "300"}, tmp_path
    )
    assert result.returncode != 0
    assert "consumer_timeout (300 s) must exceed 600 s" in result.stderr


def test_queue_names_derive_from_one_prefix(tmp_path):
    found = json.loads(run_django(QUEUES_PROBE, {}, tmp_path).stdout)
    assert found["queues"] == ["outreach-send", "outreach-sync"]
    assert found["default_queue"] == "outreach-send"
    assert "visibility_timeout" not in found["transport"]  # the embedded broker has none
    found = json.loads(run_django(QUEUES_PROBE, {"CELERY_QUEUE": "staging"}, tmp_path).stdout)
    assert found["queues"] == ["staging-send", "staging-sync"]


PORTS_PROBE = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "public": s.PUBLIC_BASE_URL,
    "sandbox": s.GREENHOUSE_HOSTS.get("sandbox"),
    "debug": s.DEBUG,
    "dev_tools": s.DEV_TOOLS,
    "static": s.STORAGES["staticfiles"]["BACKEND"],
    "finders": s.WHITENOISE_USE_FINDERS,
}))
"""


def ports_probe(env_vars, tmp_path):
    result = run_django(PORTS_PROBE, env_vars, tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_local_links_and_the_sandbox_profile_follow_the_ports_in_use(tmp_path):
    found = ports_probe({"DEV_TOOLS": "true"}, tmp_path)
    assert found["public"] == "http://127.0.0.1:8000"
    assert found["sandbox"]["api"] == "http://127.0.0.1:8001"
    found = ports_probe({"DEV_TOOLS": "true", "PORT": "9000"}, tmp_path)
    assert found["public"] == "http://127.0.0.1:9000"
    assert found["sandbox"]["api"] == "http://127.0.0.1:9001"  # PORT + 1
    found = ports_probe({"DEV_TOOLS": "true", "PORT": "9000", "SANDBOX_PORT": "9500"}, tmp_path)
    assert found["sandbox"] == {
        "label": "Local Harvest sandbox",
        "api": "http://127.0.0.1:9500",
        "token": "http://127.0.0.1:9500/token",
        "candidate_page": "http://127.0.0.1:9500/#candidate-{id}",
    }
    # A deployment names its address; the port does not change it.
    assert ports_probe({**PRODUCTION, "PORT": "5000"}, tmp_path)["public"] == (
        "https://outreach.example.com"
    )


def test_the_demo_runs_without_debug_and_still_serves_static_files_from_source(tmp_path):
    demo = ports_probe({"DEV_TOOLS": "true"}, tmp_path)
    assert (demo["debug"], demo["dev_tools"]) == (False, True)
    assert demo["static"] == "django.contrib.staticfiles.storage.StaticFilesStorage"
    assert demo["finders"] is True
    production = ports_probe(PRODUCTION, tmp_path)
    assert production["static"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert (production["finders"], production["dev_tools"]) == (False, False)
