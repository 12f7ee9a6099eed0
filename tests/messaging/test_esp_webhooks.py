"""Only the ESP in use has webhook URLs. Another ESP's views, unconfigured, answered 500 with a
traceback in the error log to anyone who called them; unmounted, they are a plain 404."""

import logging

import pytest
from django.core.checks import run_checks

pytestmark = pytest.mark.django_db

OTHER_ESP_URLS = [
    "/anymail/mailgun/inbound/",
    "/anymail/mailgun/inbound_mime/",
    "/anymail/mailgun/tracking/",
    "/anymail/sendgrid/inbound/",
    "/anymail/amazon_ses/inbound/",
    "/anymail/mandrill/",
    "/anymail/sparkpost/tracking/",
]


def test_only_the_configured_esp_is_mounted(client, esp_webhooks, caplog):
    esp_webhooks("postmark")
    # Mounted: Anymail's view answers (400: no credentials).
    for path in ("/anymail/postmark/inbound/", "/anymail/postmark/tracking/"):
        response = client.post(path, data="{}", content_type="application/json")
        assert response.status_code == 400
    caplog.clear()
    for url in OTHER_ESP_URLS:
        response = client.post(url, data="{}", content_type="application/json")
        assert response.status_code == 404, url
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_another_esp_mounts_its_own_urls_and_not_postmarks(client, esp_webhooks, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_WEBHOOK_SIGNING_KEY": "key-for-tests"}
    esp_webhooks("mailgun")
    for path in ("/anymail/mailgun/inbound/", "/anymail/mailgun/inbound_mime/"):
        assert client.post(path, data={}).status_code == 400  # Anymail: no credentials
    assert client.post("/anymail/postmark/inbound/", data={}).status_code == 404


def test_without_an_esp_no_webhook_is_mounted(client, esp_webhooks, settings):
    esp_webhooks("")
    for url in ["/anymail/postmark/inbound/", *OTHER_ESP_URLS]:
        assert client.post(url, data="{}", content_type="application/json").status_code == 404


def test_an_anymail_email_backend_counts_as_the_esp_in_use(client, esp_webhooks, settings):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    esp_webhooks("")
    response = client.post(
        "/anymail/postmark/tracking/", data="{}", content_type="application/json"
    )
    assert response.status_code == 400


def _ids(problems):
    return {problem.id for problem in problems}


def test_check_deploy_reports_a_mounted_webhook_that_cannot_start(settings, esp_webhooks):
    esp_webhooks("mailgun")
    settings.ANYMAIL = {"WEBHOOK_SECRET": ["user:pass"]}  # no MAILGUN_WEBHOOK_SIGNING_KEY
    problems = [p for p in run_checks(include_deployment_checks=True) if p.id == "messaging.E003"]
    assert problems and all(p.is_serious() for p in problems)
    assert "MAILGUN_WEBHOOK_SIGNING_KEY" in problems[0].msg
    settings.ANYMAIL = {"WEBHOOK_SECRET": ["user:pass"], "MAILGUN_WEBHOOK_SIGNING_KEY": "k"}
    assert "messaging.E003" not in _ids(run_checks(include_deployment_checks=True))
    esp_webhooks("postmark")  # nothing to configure beyond the basic auth
    settings.ANYMAIL = {"WEBHOOK_SECRET": ["user:pass"]}
    assert "messaging.E003" not in _ids(run_checks(include_deployment_checks=True))
