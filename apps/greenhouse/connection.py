"""A team's Greenhouse connection: the credential (secret encrypted, never shown back), the
connection test and its plain-words verdict, secret rotation, the recruiter ↔ Greenhouse user
mapping, and `harvest_client_build`, the one place a HarvestClient is made from a model. The
notes themselves are sync.py's; the vendor's HTTP is harvest/'s.

The user mapping is refreshed by email when a connection is saved or tested, and again once it is
GREENHOUSE_USER_MAPPING_MAX_AGE old (beat checks every 15 minutes): a recruiter nobody mapped
would otherwise have every note authored by the acting user in Greenhouse, with nothing there to
say so.
"""

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.core import crypto
from apps.teams.models import Membership, Team

from .harvest.client import HarvestClient, HarvestCredentials
from .harvest.deadline import Deadline
from .harvest.errors import (
    HarvestAuthenticationError,
    HarvestError,
    Scope,
    in_plain_words,
    scope_of,
)
from .harvest.ratelimit import attempt_count, store_from_url
from .models import GreenhouseIntegration, GreenhouseUserMapping

logger = logging.getLogger(__name__)

_DEFAULT = object()


# --- Integration -------------------------------------------------------------------------------


def harvest_client_build(*, integration: GreenhouseIntegration, sub=_DEFAULT, **options):
    """A Harvest client for the team's credential, acting as the integration's user unless `sub`
    is given. Raises crypto.SecretDecryptionError when the stored secret cannot be decrypted."""
    secret = integration.get_client_secret()
    if not secret:
        raise HarvestAuthenticationError("No client secret is stored for this integration.")
    # URLs come from the operator's profile only; an unknown key raises HarvestHostNotAllowed.
    credentials = HarvestCredentials.for_host(
        integration.host, client_id=integration.client_id, client_secret=secret
    )
    return HarvestClient(
        credentials, sub=integration.acting_user_id if sub is _DEFAULT else sub, **options
    )


def _clean_and_save(integration: GreenhouseIntegration) -> GreenhouseIntegration:
    integration.client_id = integration.client_id.strip()
    integration.full_clean()
    integration.save()
    return integration


@transaction.atomic
def greenhouse_integration_create(
    *,
    team: Team,
    client_id: str,
    client_secret: str,
    acting_user_id: int | None = None,
    host: str | None = None,
) -> GreenhouseIntegration:
    """`host`: a key of settings.GREENHOUSE_HOSTS (support staff's choice; default otherwise)."""
    if not client_secret or not client_secret.strip():
        raise ValidationError({"client_secret": "Enter the client secret."})
    integration = GreenhouseIntegration(
        team=team,
        client_id=client_id,
        acting_user_id=acting_user_id,
        host=host or settings.GREENHOUSE_DEFAULT_HOST,
    )
    integration.set_client_secret(client_secret.strip())
    return _clean_and_save(integration)


CREDENTIAL_FIELDS = ("client_id", "acting_user_id", "host")
# The secret belongs to a client ID on a host: changing either needs it entered again, so a
# stored secret is never sent anywhere it was not entered for.
SECRET_BOUND_FIELDS = ("client_id", "host")
CREDENTIAL_CHANGE_MESSAGE = (
    "Enter the client secret again: it is needed when the client ID or the host changes."
)


@transaction.atomic
def greenhouse_integration_update(
    *, integration: GreenhouseIntegration, client_secret: str | None = None, **changes
) -> GreenhouseIntegration:
    """Change credential fields; an empty `client_secret` keeps the stored one, unless the
    client ID or the host changes. A changed credential has not been checked yet."""
    unknown = set(changes) - set(CREDENTIAL_FIELDS)
    if unknown:
        raise TypeError(f"Unknown fields: {', '.join(sorted(unknown))}")
    if "client_id" in changes:
        changes["client_id"] = (changes["client_id"] or "").strip()
    new_secret = bool(client_secret and client_secret.strip())
    if not new_secret and any(
        name in changes and getattr(integration, name) != changes[name]
        for name in SECRET_BOUND_FIELDS
    ):
        raise ValidationError({"client_secret": CREDENTIAL_CHANGE_MESSAGE})
    changed = any(getattr(integration, name) != value for name, value in changes.items())
    for name, value in changes.items():
        setattr(integration, name, value)
    if client_secret and client_secret.strip():
        integration.set_client_secret(client_secret.strip())
        changed = True
    if changed:
        integration.health = GreenhouseIntegration.Health.UNCHECKED
        integration.last_error = ""
    return _clean_and_save(integration)


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str


def harvest_error_in_plain_words(
    exc: Exception, *, integration: GreenhouseIntegration | None
) -> str:
    """What is wrong and what to do, for team admins and support staff."""
    return in_plain_words(
        exc,
        acting_user_id=integration.acting_user_id if integration is not None else None,
        host_label=integration.host_label if integration is not None else "its host",
    )


def greenhouse_integration_record_check(
    *, integration: GreenhouseIntegration, error: str = "", unreachable: bool = False
) -> GreenhouseIntegration:
    """Record a check's verdict. `unreachable`: the error is an outage (Greenhouse or the network
    down), not a problem of the credential; `unreachable_since` then says since when."""
    now = timezone.now()
    integration.health = (
        GreenhouseIntegration.Health.NEEDS_ATTENTION if error else GreenhouseIntegration.Health.OK
    )
    integration.last_error = error
    integration.last_checked_at = now
    integration.unhealthy_since = (integration.unhealthy_since or now) if error else None
    integration.unreachable_since = (
        (integration.unreachable_since or now) if error and unreachable else None
    )
    GreenhouseIntegration.objects.filter(pk=integration.pk).update(
        health=integration.health,
        last_error=integration.last_error,
        last_checked_at=integration.last_checked_at,
        unhealthy_since=integration.unhealthy_since,
        unreachable_since=integration.unreachable_since,
    )
    return integration


def greenhouse_integration_test_connection(
    *, integration: GreenhouseIntegration
) -> ConnectionCheck:
    """Mint a fresh token and make one cheap authorized call; record the health. Ends within
    GREENHOUSE_CONNECTION_TEST_DEADLINE seconds whatever the host does (people wait on it)."""
    try:
        with Deadline(settings.GREENHOUSE_CONNECTION_TEST_DEADLINE) as deadline:
            client = harvest_client_build(
                integration=integration, max_rate_wait=10.0, read_retries=0, deadline=deadline
            )
            client.forget_token()  # a cached token would hide a revoked secret
            client.users_first_page(per_page=1)
    except (HarvestError, crypto.SecretDecryptionError) as exc:
        message = harvest_error_in_plain_words(exc, integration=integration)
        logger.warning("Greenhouse connection check failed for %s: %s", integration, message)
        greenhouse_integration_record_check(
            integration=integration, error=message, unreachable=scope_of(exc) == Scope.UNREACHABLE
        )
        return ConnectionCheck(ok=False, message=message)
    greenhouse_integration_record_check(integration=integration)
    return ConnectionCheck(
        ok=True, message="Connected: Greenhouse issued a token and answered an authorized call."
    )


def greenhouse_connection_attempt_register(*, team: Team) -> int:
    """Count one save or test of the team's connection (each may hold a web worker for the
    test's deadline). Returns 0 when it may go ahead, else the seconds until it may; a refused
    attempt is not counted. Shared by every process, like the rate budget."""
    store = store_from_url(settings.GREENHOUSE_RATE_BUDGET_URL)
    key = f"{settings.GREENHOUSE_KEY_PREFIX}:connection-attempts:{team.pk}"
    limit = settings.GREENHOUSE_CONNECTION_ATTEMPTS_PER_MINUTE
    wait = store.transact(
        key, lambda state: attempt_count(state, time.time(), limit=limit, window=60.0)
    )
    if wait:
        logger.warning("Greenhouse connection attempts of team %s throttled", team.pk)
    return math.ceil(wait)


@dataclass
class RotationResult:
    rotated: int = 0
    failed: list[str] = field(default_factory=list)


def greenhouse_secrets_rotate() -> RotationResult:
    """Re-encrypt every stored client secret with the first FIELD_ENCRYPTION_KEYS key."""
    result = RotationResult()
    integrations = GreenhouseIntegration.objects.exclude(client_secret_encrypted="").select_related(
        "team"
    )
    for integration in integrations:
        old = integration.client_secret_encrypted
        try:
            new = crypto.rotate(old)
        except crypto.SecretDecryptionError:
            result.failed.append(f"{integration} (id {integration.pk})")
            continue
        # Conditional: a secret entered meanwhile is already under the new key; keep it.
        GreenhouseIntegration.objects.filter(pk=integration.pk, client_secret_encrypted=old).update(
            client_secret_encrypted=new
        )
        result.rotated += 1
    return result


# --- User mapping ------------------------------------------------------------------------------


def _lookup_greenhouse_user(client: HarvestClient, email: str) -> tuple[int | None, str]:
    found = client.users_by_primary_email(email)
    active = [user for user in found if not user.get("deactivated")]
    if len(active) == 1:
        return int(active[0]["id"]), ""
    if len(active) > 1:
        return None, f"Several Greenhouse users have the primary email {email}; set one by hand."
    if found:
        return None, f"The Greenhouse user with the primary email {email} is deactivated."
    return None, f"No Greenhouse user has the primary email {email}."


def greenhouse_user_mappings_refresh(
    *, integration: GreenhouseIntegration, client: HarvestClient | None = None
) -> list[GreenhouseUserMapping]:
    """Look up every team member by email (GET /v3/users?primary_email=). Mappings set by an admin
    are kept. Raises HarvestError when Greenhouse cannot be asked."""
    client = client or harvest_client_build(integration=integration)
    # People who have left the team keep no mapping.
    integration.user_mappings.exclude(user__membership__team_id=integration.team_id).delete()
    existing = {m.user_id: m for m in integration.user_mappings.all()}
    members = Membership.objects.filter(team_id=integration.team_id).select_related("user")
    results = []
    for membership in members:
        user = membership.user
        mapping = existing.get(user.pk) or GreenhouseUserMapping(integration=integration, user=user)
        if mapping.source == GreenhouseUserMapping.Source.ADMIN and mapping.greenhouse_user_id:
            results.append(mapping)
            continue
        if user.email:
            greenhouse_user_id, problem = _lookup_greenhouse_user(client, user.email)
        else:
            greenhouse_user_id, problem = None, "This team member has no email address."
        results.append(_mapping_record_lookup(mapping, greenhouse_user_id, problem))
    return results


def _mapping_record_lookup(
    mapping: GreenhouseUserMapping, greenhouse_user_id: int | None, problem: str
) -> GreenhouseUserMapping:
    mapping.greenhouse_user_id = greenhouse_user_id
    mapping.problem = problem
    mapping.source = GreenhouseUserMapping.Source.EMAIL
    mapping.looked_up_at = timezone.now()
    mapping.save()
    return mapping


def greenhouse_user_mapping_record_lookup(
    *, integration: GreenhouseIntegration, user, greenhouse_user_id: int
) -> GreenhouseUserMapping:
    """Record what a lookup by email found for `user`, as greenhouse_user_mappings_refresh does
    (for a caller that already knows the answer: the demo seed, whose sandbox is not up yet).
    The daily refresh checks it again like any other lookup."""
    if not Membership.objects.filter(team_id=integration.team_id, user=user).exists():
        raise ValidationError({"user": f"{user} is not a member of {integration.team}."})
    mapping = GreenhouseUserMapping.objects.filter(integration=integration, user=user).first()
    mapping = mapping or GreenhouseUserMapping(integration=integration, user=user)
    return _mapping_record_lookup(mapping, greenhouse_user_id, "")


def greenhouse_user_mapping_set(
    *, integration: GreenhouseIntegration, user, greenhouse_user_id: int
) -> GreenhouseUserMapping:
    """A team admin's choice; later refreshes by email keep it."""
    if not Membership.objects.filter(team_id=integration.team_id, user=user).exists():
        raise ValidationError({"user": f"{user} is not a member of {integration.team}."})
    if not greenhouse_user_id or int(greenhouse_user_id) <= 0:
        raise ValidationError({"greenhouse_user_id": "Enter the Greenhouse user ID."})
    mapping, _ = GreenhouseUserMapping.objects.update_or_create(
        integration=integration,
        user=user,
        defaults={
            "greenhouse_user_id": int(greenhouse_user_id),
            "source": GreenhouseUserMapping.Source.ADMIN,
            "problem": "",
        },
    )
    return mapping


def greenhouse_user_mapping_reset(*, integration: GreenhouseIntegration, user) -> None:
    """Forget an admin's choice; the next refresh looks the user up by email again."""
    GreenhouseUserMapping.objects.filter(integration=integration, user=user).delete()


@dataclass(frozen=True)
class MappingLookup:
    ok: bool
    message: str


def greenhouse_user_mappings_refresh_on_connect(
    *, integration: GreenhouseIntegration
) -> MappingLookup:
    """After a connection test passed: look the team up by email within the connection test's
    deadline (a team admin waits on it). Never raises for Greenhouse trouble: the periodic
    refresh (greenhouse_user_mappings_refresh_due) tries again."""
    try:
        with Deadline(settings.GREENHOUSE_CONNECTION_TEST_DEADLINE) as deadline:
            client = harvest_client_build(
                integration=integration, max_rate_wait=10.0, read_retries=0, deadline=deadline
            )
            mappings = greenhouse_user_mappings_refresh(integration=integration, client=client)
    except (HarvestError, crypto.SecretDecryptionError) as exc:
        message = harvest_error_in_plain_words(exc, integration=integration)
        logger.warning("Greenhouse user lookup failed for %s: %s", integration, message)
        return MappingLookup(
            ok=False,
            message=(
                f"Team members could not be looked up in Greenhouse: {message} The lookup runs "
                "again by itself every day, or press “Look up by email” on the User mapping tab."
            ),
        )
    mapped = sum(1 for m in mappings if m.greenhouse_user_id)
    return MappingLookup(
        ok=True, message=f"Looked up by email: {mapped} of {len(mappings)} team members mapped."
    )


def _user_mappings_due(integration: GreenhouseIntegration, *, looked_up_before: datetime) -> bool:
    """A member never looked up, or an email lookup older than `looked_up_before` (an admin's
    choice is never due)."""
    mappings = {m.user_id: m for m in integration.user_mappings.all()}
    for user_id in Membership.objects.filter(team_id=integration.team_id).values_list(
        "user_id", flat=True
    ):
        mapping = mappings.get(user_id)
        if mapping is None:
            return True
        if mapping.source == GreenhouseUserMapping.Source.ADMIN and mapping.greenhouse_user_id:
            continue
        if mapping.looked_up_at is None or mapping.looked_up_at < looked_up_before:
            return True
    return False


def greenhouse_user_mappings_refresh_due(*, now: datetime | None = None) -> int:
    """Beat, every 15 minutes: refresh the mapping of each connected team whose lookups are
    older than GREENHOUSE_USER_MAPPING_MAX_AGE or that has a member never looked up (so a new
    recruiter or a new connection is mapped soon). A connection that needs attention is left to
    its recheck. Returns how many teams were refreshed."""
    now = now or timezone.now()
    looked_up_before = now - timedelta(seconds=settings.GREENHOUSE_USER_MAPPING_MAX_AGE)
    integrations = (
        GreenhouseIntegration.objects.exclude(client_secret_encrypted="")
        .exclude(health=GreenhouseIntegration.Health.NEEDS_ATTENTION)
        .select_related("team")
    )
    refreshed = 0
    for integration in integrations:
        if not _user_mappings_due(integration, looked_up_before=looked_up_before):
            continue
        try:
            greenhouse_user_mappings_refresh(integration=integration)
        except (HarvestError, crypto.SecretDecryptionError) as exc:
            message = harvest_error_in_plain_words(exc, integration=integration)
            logger.warning("Greenhouse user lookup failed for %s: %s", integration, message)
            continue
        refreshed += 1
    return refreshed
