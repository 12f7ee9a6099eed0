import logging
import math
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from apps.core import crypto
from apps.teams.bcc import has_greenhouse_maildrop
from apps.teams.models import Membership, Team

from .client import (
    HarvestAuthenticationError,
    HarvestClient,
    HarvestCredentials,
    HarvestDeadlineExceeded,
    HarvestError,
    HarvestHostNotAllowed,
    HarvestNotFound,
    HarvestPermissionError,
    HarvestRateLimited,
    HarvestServerError,
    HarvestUnavailable,
    clip_text,
)
from .deadline import Deadline
from .models import GreenhouseIntegration, GreenhouseUserMapping
from .ratelimit import attempt_count, store_from_url
from .selectors import greenhouse_integration_for_team

logger = logging.getLogger(__name__)

REQUIRED_SCOPES = (
    "harvest:candidates:list",
    "harvest:users:list",
    "harvest:notes:list",
    "harvest:notes:create",
)
# The pre-enrollment check runs while a recruiter waits on the page.
PREFLIGHT_TIME_BUDGET = 20.0
PREFLIGHT_MAX_RATE_WAIT = 5.0
PREFLIGHT_TIMEOUT = (3.0, 10.0)
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


def harvest_error_in_plain_words(exc: Exception, *, integration: GreenhouseIntegration) -> str:
    """What is wrong and what to do, for team admins and support staff."""
    acting = (
        f"Greenhouse user {integration.acting_user_id}"
        if integration.acting_user_id
        else "the credential's service user"
    )
    if isinstance(exc, crypto.SecretDecryptionError):
        return (
            "The stored client secret cannot be decrypted with the current FIELD_ENCRYPTION_KEYS. "
            "Enter the secret again, or restore the key it was encrypted with."
        )
    if isinstance(exc, HarvestAuthenticationError):
        if exc.status == 400 and "acting user" in exc.message:
            return f"{exc.message} Set the acting user to the ID of an active Greenhouse user."
        return (
            f"Bad credentials: {exc.message} Check the client ID and secret, or create new "
            "Harvest V3 (OAuth) credentials in Greenhouse (Configure → Dev Center → API "
            "Credentials)."
        )
    if isinstance(exc, HarvestPermissionError):
        detail = clip_text(" ".join(exc.errors)) or exc.message
        if "scope" in detail.lower():
            return (
                f"Missing scope: {detail} In Greenhouse, edit the API credential and grant "
                f"{', '.join(REQUIRED_SCOPES)}."
            )
        if "site admin" in detail.lower():
            return (
                f"Not a Site Admin: {acting} is not a Site Admin, and Harvest list endpoints "
                "need one. Set the acting user to a Site Admin's ID (or make that user one)."
            )
        return f"Greenhouse refused access: {detail}"
    if isinstance(exc, HarvestHostNotAllowed):
        return (
            "This connection's Greenhouse host is not configured on this server. Ask support to "
            "choose one of the configured hosts."
        )
    if isinstance(exc, HarvestNotFound):
        return (
            f"Greenhouse has no Harvest v3 API at {integration.host_label} (404). Ask support "
            "to check the Greenhouse host of this connection."
        )
    if isinstance(exc, HarvestDeadlineExceeded):
        return f"Host too slow: {exc.message} Try again in a few minutes."
    if isinstance(exc, HarvestUnavailable):
        return (
            f"Host unreachable: {exc.message} Try again in a few minutes; if it goes on, ask "
            "support to check that this server can reach Greenhouse."
        )
    if isinstance(exc, HarvestRateLimited):
        return f"Greenhouse's rate limit is used up; try again in {exc.retry_after:.0f} s."
    if isinstance(exc, HarvestServerError):
        return f"Greenhouse had a server error ({exc.status}); try again in a few minutes."
    if isinstance(exc, HarvestError):
        return exc.message
    return "An unexpected error occurred; see the server log."


def greenhouse_integration_record_check(
    *, integration: GreenhouseIntegration, error: str = ""
) -> GreenhouseIntegration:
    integration.health = (
        GreenhouseIntegration.Health.NEEDS_ATTENTION if error else GreenhouseIntegration.Health.OK
    )
    integration.last_error = error
    integration.last_checked_at = timezone.now()
    GreenhouseIntegration.objects.filter(pk=integration.pk).update(
        health=integration.health,
        last_error=integration.last_error,
        last_checked_at=integration.last_checked_at,
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
        greenhouse_integration_record_check(integration=integration, error=message)
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
        mapping.greenhouse_user_id = greenhouse_user_id
        mapping.problem = problem
        mapping.source = GreenhouseUserMapping.Source.EMAIL
        mapping.looked_up_at = timezone.now()
        mapping.save()
        results.append(mapping)
    return results


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


# --- Enrollment preflight ----------------------------------------------------------------------


def greenhouse_enrollment_preflight(*, sequence, prospects) -> list[str]:
    """Warnings before prospects are enrolled in a sequence that BCCs Greenhouse Maildrop: each
    prospect Greenhouse does not know would get an empty profile. Never raises for Greenhouse
    trouble: that becomes a warning too."""
    if not has_greenhouse_maildrop(sequence.bcc_list):
        return []
    integration = greenhouse_integration_for_team(team_id=sequence.team_id)
    if integration is None:
        return []
    unknown_outcome = (
        "Greenhouse creates an empty profile for every prospect it does not know, so check "
        "them in Greenhouse first."
    )
    if integration.health == GreenhouseIntegration.Health.NEEDS_ATTENTION:
        return [
            "This sequence BCCs Greenhouse Maildrop, but the Greenhouse connection needs "
            "attention, so we could not check which prospects are already in Greenhouse. "
            + unknown_outcome
        ]
    prospects = list(prospects)
    prefetch_related_objects(prospects, "emails")
    warnings = []
    unchecked = 0
    deadline = time.monotonic() + PREFLIGHT_TIME_BUDGET
    try:
        client = harvest_client_build(
            integration=integration,
            max_rate_wait=PREFLIGHT_MAX_RATE_WAIT,
            timeout=PREFLIGHT_TIMEOUT,
            read_retries=0,
        )
        for prospect in prospects:
            # Ordered primary first: Maildrop matches the address the email is sent to.
            addresses = [e.email for e in prospect.emails.all()]
            if not addresses:
                continue
            if time.monotonic() > deadline:
                unchecked += 1
                continue
            if client.candidates_by_email(addresses[0]):
                continue
            elsewhere = next((a for a in addresses[1:] if client.candidates_by_email(a)), None)
            if elsewhere:
                warnings.append(
                    f"{prospect.full_name}: Greenhouse knows {elsewhere} but not {addresses[0]}, "
                    "the address we send to. Greenhouse would create an empty profile."
                )
            else:
                warnings.append(
                    f"{prospect.full_name} ({addresses[0]}) has no Greenhouse candidate. "
                    "Greenhouse would create an empty profile."
                )
    except (HarvestError, crypto.SecretDecryptionError) as exc:
        reason = harvest_error_in_plain_words(exc, integration=integration)
        return [
            *warnings,
            f"Could not check Greenhouse for existing candidates: {reason} {unknown_outcome}",
        ]
    except Exception:
        logger.exception("Greenhouse enrollment preflight failed for sequence %s", sequence.pk)
        return [*warnings, "Could not check Greenhouse for existing candidates. " + unknown_outcome]
    if unchecked:
        warnings.append(
            f"{unchecked} more prospects could not be checked in time. " + unknown_outcome
        )
    return warnings
