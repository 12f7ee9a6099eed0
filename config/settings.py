"""Settings for the outreach platform.

Every value comes from the environment (django-environ). With nothing set, the app runs on the
embedded default: SQLite, a filesystem Celery broker, email and SMS written to local development
outboxes, and Greenhouse pointed at the local Harvest sandbox. `.env.example` lists every variable.
"""

import json
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key
from kombu import Queue

from apps.core.hosts import loopback_only
from apps.core.routing import KINDS, SEND, queue_name

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A .env file is read when present; variables already in the environment win.
environ.Env.read_env(BASE_DIR / ".env")

# Local state of the embedded default (SQLite file, broker folders, dev outboxes, dev keys).
VAR_DIR = Path(env("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret(name: str, make) -> str:
    """A development-only secret, generated once and kept in VAR_DIR so restarts keep sessions."""
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


# --- Core --------------------------------------------------------------------------------------

# Django's debug pages and behaviour: only when asked for (`make run DEBUG=true`), never by default.
DEBUG = env.bool("DEBUG", default=False)
# Development-only pages (outboxes, inbound simulators), the local sandbox and the demo. On in
# `make run` without DEBUG, so the demo shows the product's own error pages.
DEV_TOOLS = env.bool("DEV_TOOLS", default=DEBUG)
# The local stack's ports (`make run PORT=... SANDBOX_PORT=...`, apps/demo/stack.py): the web
# server's, from which PUBLIC_BASE_URL's default follows, and the local Harvest sandbox's.
WEB_PORT = env.int("PORT", default=8000)
SANDBOX_PORT = env.int("SANDBOX_PORT", default=WEB_PORT + 1)

SECRET_KEY = env("SECRET_KEY", default="") or _local_secret("dev-secret-key", get_random_secret_key)
USING_DEV_SECRET_KEY = not env("SECRET_KEY", default="")

PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default=f"http://127.0.0.1:{WEB_PORT}").rstrip("/")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
# Fixed development secrets of the local simulators (public, in this repository): the fallback
# only with DEV_TOOLS on a deployment reachable from this machine alone. check --deploy reports
# them as an Error anywhere else.
DEV_ANYMAIL_WEBHOOK_SECRET = "dev:dev-anymail-webhook-secret"  # noqa: S105 (public on purpose)
DEV_TWILIO_AUTH_TOKEN = "dev-twilio-token"  # noqa: S105 (public on purpose)
_DEV_SECRETS_ALLOWED = DEV_TOOLS and loopback_only(
    allowed_hosts=ALLOWED_HOSTS, public_base_url=PUBLIC_BASE_URL
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_BASE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "axes",
    "csp",
    "anymail",
    "apps.core",
    "apps.teams",
    "apps.sequences",
    "apps.messaging",
    "apps.greenhouse",
    "apps.accounts",  # its StaffTotpDevice is the only django-otp device (key encrypted)
]
# Development-only apps (the local Harvest sandbox, demo data): installed with DEV_TOOLS only and
# absent from the built wheel; no product app imports them (tests/core/test_layering.py).
DEV_APPS = ["apps.harvest_sandbox", "apps.demo"]
if DEV_TOOLS:
    INSTALLED_APPS += DEV_APPS

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before CSRF (which reads POST bodies): 2.5 MB bodies, except the inbound email webhook.
    "apps.core.middleware.RequestBodyLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "apps.accounts.middleware.StaffSecondFactorMiddleware",
    "apps.accounts.middleware.PrivateCacheMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.site",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------------------

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while a worker writes; IMMEDIATE takes the write lock at BEGIN
    # so concurrent writers wait on the busy timeout instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not :memory:) so that a worker process in the end-to-end tests sees the test data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
else:
    # Web processes and Celery workers keep a connection this many seconds (workers: across
    # tasks, apps/core/worker_db.py), checked before its first use in each request or task.
    # Size PostgreSQL's max_connections for one per web thread and per worker process.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # psycopg 3 server-side binding (then `?prepare_threshold=N` in DATABASE_URL prepares a
    # statement after N runs). Off: measured no gain here (docs/benchmarks.md, connections).
    if env.bool("DATABASE_SERVER_SIDE_BINDING", default=False):
        DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Shared by every process: tokens and the Greenhouse rate budget live here (Redis in production).
CACHES = {
    "default": env.cache("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}"),
}

# --- Auth, i18n, static ------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Failed logins (the app's and the admin's) are counted by django-axes in the database, so that
# every web process sees the same count. After LOGIN_FAILURE_LIMIT failures for one user name,
# or from one IP address, logins are refused, even with the right password, until
# LOGIN_COOLOFF_MINUTES have passed without another failed attempt.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each counted on its own
AXES_LOCKOUT_CALLABLE = "apps.accounts.lockout.login_lockout_response"
AXES_CLIENT_IP_CALLABLE = "apps.accounts.lockout.login_client_ip"
AXES_HTTP_RESPONSE_CODE = 429  # axes' default, named here so the lockout page can read it
# Reverse proxies in front of the app that append the client's address to X-Forwarded-For; the
# login throttle counts per client address. 0: the address of the connection itself.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Support staff see every team, so the admin also wants a code from their authenticator app
# (django-otp with apps.accounts' StaffTotpDevice, key encrypted; enrol with
# `manage.py staff_totp_enroll <username>`). Off by default only with DEV_TOOLS;
# `check --deploy` reports an error when it is off.
STAFF_REQUIRE_2FA = env.bool("STAFF_REQUIRE_2FA", default=not DEV_TOOLS)
OTP_TOTP_ISSUER = "Outreach"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# A session ends after this many seconds without a request (each request starts the count again).
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_TIMEOUT", default=2 * 3600)
SESSION_SAVE_EVERY_REQUEST = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
# Dates as "2026-12-01 14:05" wherever Django formats them (config/formats/en/formats.py).
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production serves the hashed files of `collectstatic`; development (DEBUG or DEV_TOOLS, so the
# demo without DEBUG too) serves the source files straight from the apps, with no collectstatic.
_STATIC_FROM_SOURCE = DEBUG or DEV_TOOLS
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if _STATIC_FROM_SOURCE
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = _STATIC_FROM_SOURCE
WHITENOISE_AUTOREFRESH = _STATIC_FROM_SOURCE  # finds files per request; no STATIC_ROOT needed

# --- Security (production behind HTTPS) --------------------------------------------------------

HTTPS = PUBLIC_BASE_URL.startswith("https://")
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    # Only behind a proxy that sets this header itself (and strips it from clients).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Pages load scripts, styles, images and fonts from this origin only: no inline script or style
# (keep them in static/), no plugin, no framing, forms post only here.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

SILENCED_SYSTEM_CHECKS = [
    # HSTS for subdomains and the browsers' preload list commit every subdomain of the
    # company's domain to HTTPS for a year: the operator decides, with the variables above.
    "security.W005",
    "security.W021",
]

# Keys for secrets stored in the database (Greenhouse client secrets): comma-separated Fernet
# keys, the first encrypts, all decrypt. Generate with `python manage.py generate_encryption_key`.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[]) or [
    _local_secret("dev-field-encryption-key", _fernet_key)
]
USING_DEV_ENCRYPTION_KEY = not env.list("FIELD_ENCRYPTION_KEYS", default=[])


# --- Email (django-anymail) --------------------------------------------------------------------

# ANYMAIL_ESP picks the ESP ("postmark", "mailgun", "amazon_ses", ...). Every other ANYMAIL_<NAME>
# variable becomes ANYMAIL["<NAME>"], e.g. ANYMAIL_POSTMARK_SERVER_TOKEN, ANYMAIL_WEBHOOK_SECRET.
ANYMAIL_ESP = env("ANYMAIL_ESP", default="")
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value
    for key, value in env.ENVIRON.items()
    if key.startswith("ANYMAIL_") and key != "ANYMAIL_ESP"
}
# Basic auth ("user:password") on every Anymail webhook; comma-separated to rotate credentials.
# Anymail accepts unauthenticated calls when no secret is set (it only warns), so without one we
# use a random secret nobody knows: every webhook call is refused until it is configured.
# A loopback-only development deployment has the fixed secret instead (see above).
ANYMAIL["WEBHOOK_SECRET"] = [
    s.strip() for s in ANYMAIL.get("WEBHOOK_SECRET", "").split(",") if s.strip()
] or [DEV_ANYMAIL_WEBHOOK_SECRET if _DEV_SECRETS_ALLOWED else f"unset:{get_random_secret_key()}"]
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default=(
        f"anymail.backends.{ANYMAIL_ESP}.EmailBackend"
        if ANYMAIL_ESP
        # With DEV_TOOLS the outbox also passes Maildrop BCC copies to the local sandbox.
        else "apps.harvest_sandbox.backends.MaildropSandboxEmailBackend"
        if DEV_TOOLS
        else "apps.messaging.backends.DevOutboxEmailBackend"
    ),
)
# Largest inbound email request accepted (bytes, as the ESP posts it: JSON/base64 is a third
# larger than the mail). ESPs accept mail up to ~25-40 MB. A larger request is refused with 413
# so the ESP retries, and its start is kept as an unmatched inbound message for support.
INBOUND_EMAIL_MAX_BYTES = env.int("INBOUND_EMAIL_MAX_BYTES", default=50 * 1024 * 1024)
# Every other request body (Django's default); see apps/core/middleware.py.
REQUEST_BODY_MAX_BYTES = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = max(INBOUND_EMAIL_MAX_BYTES, REQUEST_BODY_MAX_BYTES)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Outreach <outreach@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Domain for our Message-IDs and for reply addresses that carry a thread token.
EMAIL_DOMAIN = env("EMAIL_DOMAIN", default="localhost")
REPLY_ADDRESS_DOMAIN = env("REPLY_ADDRESS_DOMAIN", default=EMAIL_DOMAIN)

# --- SMS (Twilio) ------------------------------------------------------------------------------

TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", default="")
# Also the key that Twilio webhook signatures are checked with. Without it the webhooks answer
# 403; a loopback-only development deployment uses the fixed token (see above), so the local SMS
# simulator signs requests like Twilio.
TWILIO_AUTH_TOKEN = env(
    "TWILIO_AUTH_TOKEN", default=DEV_TWILIO_AUTH_TOKEN if _DEV_SECRETS_ALLOWED else ""
)
SMS_BACKEND = env(
    "SMS_BACKEND",
    default=(
        "apps.messaging.sms.twilio.TwilioSmsBackend"
        if TWILIO_ACCOUNT_SID
        else "apps.messaging.sms.dev.DevOutboxSmsBackend"
    ),
)

# Development outboxes: what would have gone to the ESP or to Twilio, for a person to read.
DEV_OUTBOX_DIR = Path(env("DEV_OUTBOX_DIR", default=str(VAR_DIR / "outbox")))

# --- Greenhouse --------------------------------------------------------------------------------

GREENHOUSE_SANDBOX_URL = env("GREENHOUSE_SANDBOX_URL", default=f"http://127.0.0.1:{SANDBOX_PORT}")
# The only hosts the Harvest client ever contacts: named profiles, the operator's choice (settings
# are trusted, tenants are not). A team admin enters only the credential; support staff pick a
# team's profile in the Django admin; the client refuses any URL outside these profiles before it
# connects. "api" is the Harvest base URL, "token" the OAuth token URL, "candidate_page" (optional,
# only ever a link for people) a candidate's page, "{id}" standing for the candidate id.
GREENHOUSE_HOSTS = {
    "greenhouse": {
        "label": "Greenhouse",
        "api": env("GREENHOUSE_API_BASE_URL", default="https://harvest.greenhouse.io"),
        "token": env("GREENHOUSE_TOKEN_URL", default="https://auth.greenhouse.io/token"),
        "candidate_page": "https://app.greenhouse.io/people/{id}",
    },
}
if DEV_TOOLS:
    GREENHOUSE_HOSTS["sandbox"] = {
        "label": "Local Harvest sandbox",
        "api": GREENHOUSE_SANDBOX_URL.rstrip("/"),
        "token": f"{GREENHOUSE_SANDBOX_URL.rstrip('/')}/token",
        "candidate_page": f"{GREENHOUSE_SANDBOX_URL.rstrip('/')}/#candidate-{{id}}",
    }
# More profiles (a proxy, a test double, another Greenhouse host), as JSON; checked at start-up.
_extra_hosts = env("GREENHOUSE_EXTRA_HOSTS", default="").strip()
if _extra_hosts:
    try:
        GREENHOUSE_HOSTS.update(json.loads(_extra_hosts))
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"GREENHOUSE_EXTRA_HOSTS is not a JSON object: {exc}") from exc
# The profile of new connections.
GREENHOUSE_DEFAULT_HOST = env("GREENHOUSE_DEFAULT_HOST", default="") or (
    "sandbox" if DEV_TOOLS else "greenhouse"
)
# The credential the local Harvest sandbox accepts (`manage.py harvest_sandbox` prints it). Demo
# values, not secrets: the sandbox only listens on loopback.
GREENHOUSE_SANDBOX_CLIENT_ID = env("GREENHOUSE_SANDBOX_CLIENT_ID", default="sandbox-demo-client")
GREENHOUSE_SANDBOX_CLIENT_SECRET = env(
    "GREENHOUSE_SANDBOX_CLIENT_SECRET", default="sandbox-demo-secret-0000"
)
# Every Harvest call has a connect and a read timeout (seconds).
GREENHOUSE_CONNECT_TIMEOUT = env.float("GREENHOUSE_CONNECT_TIMEOUT", default=5.0)
# An outbound proxy for Harvest calls, e.g. "http://proxy.internal:3128". The process's
# HTTP(S)_PROXY and ~/.netrc are ignored (apps/greenhouse/harvest/client.py new_session says why).
GREENHOUSE_HTTPS_PROXY = env("GREENHOUSE_HTTPS_PROXY", default="")
GREENHOUSE_READ_TIMEOUT = env.float("GREENHOUSE_READ_TIMEOUT", default=30.0)
# The connection test runs while a team admin waits: it ends after this many seconds of wall
# clock, whatever the host does (requests' timeouts apply to each read, not to the whole call).
GREENHOUSE_CONNECTION_TEST_DEADLINE = env.float("GREENHOUSE_CONNECTION_TEST_DEADLINE", default=8.0)
# Saves and tests of one team's connection per minute (each may hold a web worker that long).
GREENHOUSE_CONNECTION_ATTEMPTS_PER_MINUTE = env.int(
    "GREENHOUSE_CONNECTION_ATTEMPTS_PER_MINUTE", default=5
)
# Seconds after which team members are looked up by email again (beat checks every 15 minutes).
GREENHOUSE_USER_MAPPING_MAX_AGE = env.float("GREENHOUSE_USER_MAPPING_MAX_AGE", default=86400.0)
# Seconds a "no candidate" or "several candidates" answer of the email search is reused before
# a prospect's next record searches again (each search takes requests from the rate budget;
# a found candidate is reused until Greenhouse answers 404). 0: search on every record.
GREENHOUSE_LOOKUP_CACHE_SECONDS = env.float("GREENHOUSE_LOOKUP_CACHE_SECONDS", default=300.0)
# Issue 15, "not in Greenhouse yet": a prospect no candidate matches is looked up again (every
# address, one lookup per prospect) after these many seconds, one after the other: often at
# first, then less often; the last repeats (daily) until the team's waiting window passes.
GREENHOUSE_WAITING_LOOKUP_SCHEDULE = [
    float(s)
    for s in env.list("GREENHOUSE_WAITING_LOOKUP_SCHEDULE", default=[120, 600, 3600, 21600, 86400])
]
# Failed tries of one due lookup (Greenhouse errors), with the sync's backoff; then the schedule
# goes on as if it had found nothing.
GREENHOUSE_WAITING_LOOKUP_MAX_ATTEMPTS = env.int(
    "GREENHOUSE_WAITING_LOOKUP_MAX_ATTEMPTS", default=4
)
# A note written this many seconds or more after its message says when the message was sent or
# received (Greenhouse dates a note by its writing).
GREENHOUSE_NOTE_DATED_AFTER = env.float("GREENHOUSE_NOTE_DATED_AFTER", default=600.0)
# The candidate directory (apps/greenhouse/directory.py): a per-team index of keyed hashes of
# the team's Greenhouse candidates' addresses, kept from Harvest's listing, so a team's prospects
# are resolved together instead of one search per address. Off: the per-address search only.
GREENHOUSE_DIRECTORY_ENABLED = env.bool("GREENHOUSE_DIRECTORY_ENABLED", default=True)
# A directory refreshed this recently answers without a request; older, one incremental refresh
# (`updated_at=gte|…`) answers for every prospect of the team.
GREENHOUSE_DIRECTORY_FRESH_SECONDS = env.float("GREENHOUSE_DIRECTORY_FRESH_SECONDS", default=60.0)
# Subtracted from the last refresh's start in the next `updated_at=gte|…` (clock skew between us
# and Greenhouse, and edits committed while the last refresh ran).
GREENHOUSE_DIRECTORY_SAFETY_MARGIN = env.float("GREENHOUSE_DIRECTORY_SAFETY_MARGIN", default=60.0)
# A full crawl again after this long (it drops deleted candidates a refresh cannot see).
GREENHOUSE_DIRECTORY_RECRAWL_SECONDS = env.float(
    "GREENHOUSE_DIRECTORY_RECRAWL_SECONDS", default=86400.0
)
# While a team's first crawl runs, its unresolved records wait for it this long at most (then
# they are searched by address as without a directory). 0: never wait.
GREENHOUSE_DIRECTORY_CRAWL_WAIT = env.float("GREENHOUSE_DIRECTORY_CRAWL_WAIT", default=120.0)
# Failed pages of one crawl or refresh (errors, not the rate budget) before it gives up.
GREENHOUSE_DIRECTORY_MAX_FAILURES = env.int("GREENHOUSE_DIRECTORY_MAX_FAILURES", default=5)
# The rate budget of each credential is shared by every worker process and machine: in Redis when
# the cache is Redis, else in lock-protected files in VAR_DIR (one machine).
_cache = CACHES["default"]
_cache_location = _cache.get("LOCATION", "")
GREENHOUSE_RATE_BUDGET_URL = env(
    "GREENHOUSE_RATE_BUDGET_URL",
    default=(
        (_cache_location[0] if isinstance(_cache_location, list) else _cache_location)
        if _cache["BACKEND"].endswith("RedisCache")
        else f"file://{VAR_DIR / 'greenhouse-ratelimit'}"
    ),
)
# The inbox processor's wake-up lease (apps/messaging/wake.py): in Redis when the cache is Redis
# (one round trip instead of a second SQL statement in every inbound webhook request), else ""
# (a column of the stored events, one UPDATE).
INBOX_WAKE_URL = env(
    "INBOX_WAKE_URL",
    default=(
        (_cache_location[0] if isinstance(_cache_location, list) else _cache_location)
        if _cache["BACKEND"].endswith("RedisCache")
        else ""
    ),
)
# Seconds kept free at each rate window's edge (at least one-way latency plus clock skew): no
# request is sent this close to the window's end, and the next window is not tried this soon.
GREENHOUSE_RATE_EDGE_RESERVE = env.float("GREENHOUSE_RATE_EDGE_RESERVE", default=0.25)
# The most Greenhouse's clock may differ from ours, in seconds (NTP keeps it to milliseconds):
# within it of a whole second, a rounded Reset leaves a window's length open by a second.
GREENHOUSE_RATE_CLOCK_SKEW = env.float("GREENHOUSE_RATE_CLOCK_SKEW", default=0.05)
# Assumed only when an answer carries no X-RateLimit-* headers (v3 sends them on every answer).
GREENHOUSE_RATE_DEFAULT_LIMIT = env.int("GREENHOUSE_RATE_DEFAULT_LIMIT", default=50)
GREENHOUSE_RATE_DEFAULT_WINDOW = env.int("GREENHOUSE_RATE_DEFAULT_WINDOW", default=30)
# A call waits at most this long for budget, then raises HarvestRateLimited. Not the sync's
# calls: they never wait (a record without a slot is deferred to it, apps/greenhouse/batch.py).
GREENHOUSE_RATE_MAX_WAIT = env.float("GREENHOUSE_RATE_MAX_WAIT", default=60.0)
# Namespace of the cache keys (tokens) and budget keys.
GREENHOUSE_KEY_PREFIX = env("GREENHOUSE_KEY_PREFIX", default="greenhouse")

# Activity sync (notes). Retries wait in the database; the sweeper queues them when due.
GREENHOUSE_SYNC_MAX_ATTEMPTS = env.int("GREENHOUSE_SYNC_MAX_ATTEMPTS", default=8)
GREENHOUSE_SYNC_RETRY_BASE_DELAY = env.float("GREENHOUSE_SYNC_RETRY_BASE_DELAY", default=30.0)
GREENHOUSE_SYNC_RETRY_MAX_DELAY = env.float("GREENHOUSE_SYNC_RETRY_MAX_DELAY", default=1800.0)
# A record claimed longer ago than this lost its worker. It must exceed the longest a worker
# can spend between its last heartbeat and the end of a POST (rate wait + both timeouts), and
# the Celery hard time limit, or a slow live worker could be taken for a dead one.
GREENHOUSE_SYNC_STALE_AFTER = env.float("GREENHOUSE_SYNC_STALE_AFTER", default=360.0)
# A message without its sync record this long after it was sent or received (seconds): the
# sweeper creates the record (the signal's receiver failed and logged).
GREENHOUSE_SYNC_PENDING_GRACE = env.float("GREENHOUSE_SYNC_PENDING_GRACE", default=60.0)
GREENHOUSE_SYNC_SWEEP_INTERVAL = env.float("GREENHOUSE_SYNC_SWEEP_INTERVAL", default=20.0)
# Records one team's sync task writes before it queues itself again behind the other teams
# (apps/greenhouse/batch.py), and the seconds after which it starts no new one: a team's backlog
# never holds a worker for long. A batch's records share one task, one lane round, one claim and
# one commit before and after their POSTs (docs/benchmarks.md §9 measures 10 against 50); at a
# real Greenhouse's latency the time bound ends a batch of 50 first.
GREENHOUSE_SYNC_BATCH_SIZE = env.int("GREENHOUSE_SYNC_BATCH_SIZE", default=50)
GREENHOUSE_SYNC_BATCH_SECONDS = env.float("GREENHOUSE_SYNC_BATCH_SECONDS", default=5.0)
# A team whose next record comes due within this many seconds (a rate slot, a short retry) gets
# a wake-up with that countdown; later ones wait for the sweep (apps/greenhouse/lanes.py).
GREENHOUSE_SYNC_LANE_HORIZON = env.float("GREENHOUSE_SYNC_LANE_HORIZON", default=60.0)
# The switch gate's file locks on SQLite (apps/greenhouse/gate.py); PostgreSQL uses row locks.
GREENHOUSE_SWITCH_LOCK_DIR = env(
    "GREENHOUSE_SWITCH_LOCK_DIR", default=str(VAR_DIR / "greenhouse-switch")
)
# An unhealthy connection is tested again after half the time it has been unhealthy, within
# these bounds (seconds): fast at first, slower during a long outage.
GREENHOUSE_RECHECK_MIN_DELAY = env.float("GREENHOUSE_RECHECK_MIN_DELAY", default=30.0)
GREENHOUSE_RECHECK_MAX_DELAY = env.float("GREENHOUSE_RECHECK_MAX_DELAY", default=900.0)
# The bot email that tells a recruiter a thread is being synced, with the pause link.
GREENHOUSE_BOT_FROM_EMAIL = env("GREENHOUSE_BOT_FROM_EMAIL", default="") or DEFAULT_FROM_EMAIL
GREENHOUSE_PAUSE_LINK_MAX_AGE_DAYS = env.int("GREENHOUSE_PAUSE_LINK_MAX_AGE_DAYS", default=365)

# --- Celery ------------------------------------------------------------------------------------

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://localhost//")
# Outbox lease (apps/core/outbox.py, seconds): after queueing a row's task, the sweepers leave
# the row alone this long, trusting the task to be in the broker; then they take it as lost and
# queue one more. Longer than a backlog usually takes to drain; a lost task waits at most this.
QUEUE_LEASE = env.float("QUEUE_LEASE", default=600.0)
# Hard and soft limits of one task (seconds). The hard one bounds how long a message is held
# (see the visibility timeout below): 60 + 2 * 270 = 600, the default QUEUE_LEASE.
CELERY_TASK_TIME_LIMIT = 270
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker: messages are files in one folder shared by every process on this
    # machine. No server needed; add Redis or RabbitMQ to spread workers over machines.
    _broker_dir = Path(env("EMBEDDED_BROKER_DIR", default=str(VAR_DIR / "broker")))
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # Seconds between two looks at the queue folder when it is empty: the latency of a
        # task on the embedded broker.
        "polling_interval": env.float("EMBEDDED_BROKER_POLLING_INTERVAL", default=1.0),
    }
else:
    # Redis gives a delivered, unacknowledged message (acks_late) back to the queue after the
    # visibility timeout, whether its worker died or is still busy with it. It is the queue
    # lease: lost work comes back after the same time on both paths (a message lost from the
    # queue: the sweepers, after QUEUE_LEASE; a message held by a dead worker: Redis, after
    # QUEUE_LEASE). It must exceed the longest a live worker holds a message unacknowledged:
    # a lane's countdown wake-up is held until it is due (at most GREENHOUSE_SYNC_LANE_HORIZON),
    # may wait behind one running task (prefetch 1), then runs, each at most the hard time
    # limit; else Redis hands a held task to a second worker. RabbitMQ has no visibility
    # timeout (it gives a message back as soon as its consumer's channel closes: a dead worker,
    # a lost connection) and ignores the option.
    _longest_held = GREENHOUSE_SYNC_LANE_HORIZON + CELERY_TASK_TIME_LIMIT * (
        1 + CELERY_WORKER_PREFETCH_MULTIPLIER
    )
    if _longest_held > QUEUE_LEASE:
        raise ImproperlyConfigured(
            f"QUEUE_LEASE ({QUEUE_LEASE:g} s) must be at least {_longest_held:g} s: Redis's "
            "visibility timeout follows it, and a live worker can hold a message that long."
        )
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": QUEUE_LEASE}
    if CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")):
        # RabbitMQ's `consumer_timeout` (rabbitmq.conf; 30 minutes by default) closes the
        # channel of a consumer that holds a delivery unacknowledged longer, and every message
        # of that channel goes back to the queue: a hold that long would be redelivered, and
        # close the channel again, forever. Set this to the broker's value if it was changed.
        RABBITMQ_CONSUMER_TIMEOUT = env.float("RABBITMQ_CONSUMER_TIMEOUT", default=1800.0)
        if _longest_held >= RABBITMQ_CONSUMER_TIMEOUT:
            raise ImproperlyConfigured(
                f"RabbitMQ's consumer_timeout ({RABBITMQ_CONSUMER_TIMEOUT:g} s) must exceed "
                f"{_longest_held:g} s: a live worker can hold a message unacknowledged that long."
            )
        # Publisher confirms: a publish returns once RabbitMQ has the message (persisted, on
        # durable queues), and raises if it does not; then the outbox gives its lease back and
        # the next sweep queues the row again at once (apps/core/outbox.py), as on Redis, whose
        # every LPUSH is answered. Without them a message sent to a node that is going down is
        # lost silently and its row waits out QUEUE_LEASE.
        CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
# A lost broker connection leaves the tasks running (the default, said explicitly: Celery 6 is
# to cancel them). RabbitMQ gives their messages to another worker at once; every task is
# idempotent (the rows' claims and the lanes' tokens), so the copy finds the work taken and
# returns, where a cancelled task would leave a claimed row for the sweep's rescue.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# One queue per kind of work, `<prefix>-send` and `<prefix>-sync` (apps/core/routing.py), routed
# by task module (config/celery.py route_task). A worker without -Q takes every kind.
CELERY_QUEUE_PREFIX = env("CELERY_QUEUE", default="outreach")
CELERY_TASK_QUEUES = [Queue(queue_name(CELERY_QUEUE_PREFIX, kind)) for kind in KINDS]
CELERY_TASK_DEFAULT_QUEUE = queue_name(CELERY_QUEUE_PREFIX, SEND)
CELERY_TASK_ROUTES = ("config.celery.route_task",)
# Celery's Django fixup closes the database connection before and after every task unless this is
# set; with it, a worker process keeps its connection (CONN_MAX_AGE and health checks still apply,
# apps/core/worker_db.py) and opens a new one after this many tasks at most.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False


def _every(seconds: float) -> dict:
    """A beat entry's timing: a tick not taken before the next one is due expires unrun (a bit
    under the interval), so ticks never pile up behind a backlog or a stopped worker."""
    return {"schedule": seconds, "options": {"expires": round(seconds * 0.9, 3)}}


CELERY_BEAT_SCHEDULE = {
    "worker-ping": {"task": "apps.core.tasks.worker_ping_scheduled_task", **_every(60.0)},
    # Creates the messages of due sequence steps (each exactly once, however many run at once).
    "sequence-steps-dispatch": {
        "task": "apps.messaging.tasks.sequence_steps_dispatch_task",
        **_every(env.float("SEQUENCE_DISPATCH_INTERVAL", default=15.0)),
    },
    # Re-queues messages whose retry is due, whose wake-up was lost, or whose worker died.
    "messages-sweep": {"task": "apps.messaging.tasks.messages_sweep_task", **_every(30.0)},
    # Greenhouse sync: queues due retries, rescues records of dead workers and lost wake-ups,
    # releases records held for the connection once it is healthy, sends pending bot emails.
    "greenhouse-sync-sweep": {
        "task": "apps.greenhouse.tasks.sync_records_sweep_task",
        **_every(GREENHOUSE_SYNC_SWEEP_INTERVAL),
    },
    # Re-tests connections that need attention while records wait for them.
    "greenhouse-connections-recheck": {
        "task": "apps.greenhouse.tasks.greenhouse_connections_recheck_task",
        **_every(GREENHOUSE_RECHECK_MIN_DELAY),  # each connection's own delay decides
    },
    # Alerts to team admins (apps/greenhouse/alerts.py): counts what is wrong per team, updates
    # the banners and queues at most one email per cause per team per day.
    "greenhouse-alerts-evaluate": {
        "task": "apps.greenhouse.tasks.team_alerts_evaluate_task",
        **_every(env.float("ALERTS_EVALUATE_INTERVAL", default=300.0)),
    },
    # Looks team members up in Greenhouse by email once a day, new members and new connections
    # within 15 minutes (a run costs two queries per team that is not due).
    "greenhouse-user-mappings-refresh": {
        "task": "apps.greenhouse.tasks.greenhouse_user_mappings_refresh_task",
        **_every(900.0),
    },
}

# --- Metrics (Prometheus) ---------------------------------------------------------------------

# /metrics answers a scrape with `Authorization: Bearer <METRICS_TOKEN>`, or a support staff
# session; anyone else gets 404 (403 for a wrong token). Empty: staff sessions only.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# Teams with a Greenhouse connection that get series of their own (by team id); the records of
# any other team are summed under team="other", so a scrape stays bounded.
METRICS_MAX_TEAMS = env.int("METRICS_MAX_TEAMS", default=200)

# --- Logging -----------------------------------------------------------------------------------

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # urllib3 logs request lines at DEBUG; keep it quiet so no URL with a token is logged.
        "urllib3": {"level": "WARNING"},
    },
}
