"""Migration 0004: stored URLs become host profile keys; connections on any other host lose their
secret and need attention (see the migration's docstring)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.core import crypto
from apps.greenhouse.models import GreenhouseIntegration
from tests.fixtures.harvest import allow_greenhouse_host

BEFORE = [("greenhouse", "0003_ui_indexes")]
AFTER = [("greenhouse", "0004_greenhouse_host_profiles")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_stored_urls_become_host_keys_and_foreign_hosts_need_a_new_secret(settings):
    allow_greenhouse_host(settings, "proxy", "https://gh-proxy.example.com", label="Proxy")
    old = migrate(BEFORE)
    Team = old.get_model("teams", "Team")
    Integration = old.get_model("greenhouse", "GreenhouseIntegration")
    secret = crypto.encrypt("kept-secret-1234")
    rows = {
        "real": ("https://harvest.greenhouse.io/", "https://auth.greenhouse.io/token"),
        "proxy": ("https://GH-Proxy.example.com", "https://gh-proxy.example.com/token"),
        "theirs": ("https://harvest.greenhouse.io", "https://attacker.example/token"),
        "probe": ("http://10.0.0.5:6379", "http://10.0.0.5:6379/token"),
    }
    for slug, (api, token) in rows.items():
        team = Team.objects.create(name=slug, slug=slug)
        Integration.objects.create(
            team=team,
            client_id=f"id-{slug}",
            client_secret_encrypted=secret,
            api_base_url=api,
            token_url=token,
            health="ok",
            last_checked_at=None,
        )

    migrate(AFTER)
    # The current model may have columns added after 0004: read the rows with the latest schema.
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    # Columns added by later migrations (0006) are not there yet at 0004.
    later = ("unhealthy_since", "unreachable_since")
    found = {
        i.team.slug: i for i in GreenhouseIntegration.objects.defer(*later).select_related("team")
    }
    for slug, host in (("real", "greenhouse"), ("proxy", "proxy")):
        assert found[slug].host == host
        assert found[slug].get_client_secret() == "kept-secret-1234"
        assert found[slug].health == "ok" and found[slug].client_secret_summary == "configured"
    for slug in ("theirs", "probe"):
        moved = found[slug]
        assert moved.host == settings.GREENHOUSE_DEFAULT_HOST == "greenhouse"
        assert not moved.has_client_secret
        assert moved.health == GreenhouseIntegration.Health.NEEDS_ATTENTION
        assert "Enter the client secret again" in moved.last_error
        assert "attacker" not in moved.last_error and "10.0.0.5" not in moved.last_error

    # Backwards, each row gets its profile's URLs again.
    back = migrate(BEFORE)
    urls = {
        i.team.slug: (i.api_base_url, i.token_url)
        for i in back.get_model("greenhouse", "GreenhouseIntegration")
        .objects.select_related("team")
        .all()
    }
    assert urls["proxy"] == ("https://gh-proxy.example.com", "https://gh-proxy.example.com/token")
    assert urls["theirs"] == ("https://harvest.greenhouse.io", "https://auth.greenhouse.io/token")
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())  # the latest schema again
