import pytest
import requests
from django.contrib.auth import get_user_model

from apps.demo import data as demo
from apps.greenhouse.harvest.client import HarvestClient, HarvestCredentials
from apps.harvest_sandbox.services import SANDBOX_HOST
from apps.teams.models import Membership
from tests.fixtures.staff import log_in_staff
from tests.greenhouse.factories import GreenhouseIntegrationFactory
from tests.teams.factories import MembershipFactory, TeamFactory, UserFactory

# Short timeouts and no read retries: failures show up fast and exactly once.
FAST = {"timeout": (1.0, 1.0), "read_retries": 0, "retry_backoff": 0.05, "max_rate_wait": 10.0}


@pytest.fixture
def harvest_sandbox_fast(harvest_sandbox):
    """The sandbox with an allowance large enough that pacing never slows a test down."""
    harvest_sandbox.configure(rate_limit=5000, rate_window=30)
    return harvest_sandbox


@pytest.fixture
def credentials(harvest_sandbox):
    return HarvestCredentials(
        client_id=harvest_sandbox.client_id,
        client_secret=harvest_sandbox.client_secret,
        api_base_url=harvest_sandbox.url,
        token_url=harvest_sandbox.token_url,
    )


@pytest.fixture
def admin_user_id(harvest_sandbox):
    """The sandbox's Site Admin (the demo team admin)."""
    return harvest_sandbox.user_id("ada@acme.example")


@pytest.fixture
def make_client(harvest_sandbox_fast, credentials, admin_user_id):
    def make(*, credentials=credentials, sub=admin_user_id, **options):
        return HarvestClient(credentials, sub=sub, **{**FAST, **options})

    return make


@pytest.fixture
def team(db):
    """The demo team: an admin and a recruiter whose emails the sandbox knows as users."""
    team = TeamFactory(name="Acme Talent", slug="acme")
    for username, first, last, email, role in demo.DEMO_USERS:
        if role in ("admin", "recruiter"):
            MembershipFactory(
                team=team,
                role=Membership.Role.ADMIN if role == "admin" else Membership.Role.RECRUITER,
                user=UserFactory(username=username, first_name=first, last_name=last, email=email),
            )
    return team


@pytest.fixture
def integration(team, harvest_sandbox_fast, admin_user_id):
    return GreenhouseIntegrationFactory(
        team=team,
        client_id=harvest_sandbox_fast.client_id,
        client_secret=harvest_sandbox_fast.client_secret,
        acting_user_id=admin_user_id,
        host=SANDBOX_HOST,
    )


@pytest.fixture
def staff_client(client, db, settings):
    """Support staff logged in to the admin (pages render without `collectstatic`)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    user = get_user_model().objects.create_superuser("support", "support@example.com", "pw")
    return log_in_staff(client, user)


# --- The activity sync --------------------------------------------------------------------------


@pytest.fixture
def synced(team, integration, anymail_outbox):
    """The demo team with sync enabled and on, its recruiter Rob with a virtual number, and the
    demo prospects (the first three are Greenhouse candidates in the sandbox)."""
    from tests.greenhouse.sync_helpers import make_synced_world

    return make_synced_world(team=team, integration=integration)


# --- Loopback servers for the connection-safety tests -------------------------------------------


@pytest.fixture
def listener():
    """A host nobody configured: it must never see a connection (see listeners.py)."""
    from tests.greenhouse.listeners import CountingListener

    server = CountingListener()
    yield server
    server.close()


@pytest.fixture
def scripted():
    """A test double the operator configured (add it with allow_greenhouse_host)."""
    from tests.greenhouse.listeners import ScriptedServer

    server = ScriptedServer()
    yield server
    server.close()


@pytest.fixture
def drip_server():
    from tests.greenhouse.listeners import DripServer

    started = []

    def start(**options):
        started.append(DripServer(**options))
        return started[-1]

    yield start
    for server in started:
        server.close()


@pytest.fixture
def api(harvest_sandbox):
    """Harvest calls to the sandbox with a bearer token of the demo team admin: call(method,
    path or full URL, **requests kwargs)."""
    admin = harvest_sandbox.user_id("ada@acme.example")
    token = requests.post(
        harvest_sandbox.token_url,
        auth=(harvest_sandbox.client_id, harvest_sandbox.client_secret),
        data={"grant_type": "client_credentials", "sub": admin},
        timeout=5,
    ).json()["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"

    def call(method, path_or_url, **kwargs):
        url = path_or_url if "://" in path_or_url else harvest_sandbox.url + path_or_url
        return session.request(method, url, timeout=5, **kwargs)

    return call
