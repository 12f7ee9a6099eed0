"""The Greenhouse account behind the Harvest sandbox, and Harvest v3's rules over it.

The account lives in memory and, given a state file (the command's default), is saved to disk so
a developer's activity feeds outlive restarts (see "Persistence" below).

Every method is called with the HTTP details already parsed and returns (status, payload, headers);
the server only moves bytes. All state sits behind one lock, so the threaded server stays
consistent.
"""

import base64
import binascii
import json
import logging
import math
import os
import random
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Any

from apps.demo import data as demo

logger = logging.getLogger(__name__)

# Scopes the sandbox checks (a credential holds a subset).
SCOPES = (
    "harvest:candidates:list",
    "harvest:candidates:create",
    "harvest:users:list",
    "harvest:notes:list",
    "harvest:notes:create",
)
CREATABLE_NOTE_TYPES = ("NOTE", "ACTIVITY", "EMAIL")
READ_ONLY_NOTE_TYPES = (
    "INTERVIEW",
    "FOLLOW_UP",
    "TAKE_HOME_TEST",
    "LINKEDIN_NOTE",
    "LINKEDIN_INMAIL",
    "AVAILABILITY_REQUEST",
    "MIGRATION_ERROR",
    "TOUCHPOINT",
    "FORM",
    "FEEDBACK",
)
WRITE_TO_READ_VISIBILITY = {
    "public": "publicly_visible",
    "private": "privately_visible",
    "admin_only": "admin_only_visible",
}
DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 500
MAX_IDS = 50
UNPROCESSABLE = "Unprocessable Content"
NOT_FOUND = "Resource not found"  # v3's 404 body is {"message": NOT_FOUND}
SITE_ADMIN_RULE = "All list endpoints require authorization by a Site Admin."
CURSOR_RULE = "When passing a cursor, do not include other query params."
BAD_BEARER_MESSAGE = (
    "Token could not be decoded. Please ensure your token is from a trusted source."
)
EMAIL_TYPES = ("personal", "work", "other")
PHONE_TYPES = ("home", "work", "mobile", "skype", "other")  # reference §3.8
EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NAME_FIELDS = ("first_name", "last_name", "preferred_name", "company", "title")
OTHER_ADDRESSES = ("addresses", "website_addresses", "social_media_addresses")
# v3 date filters (reference §4.2, from Greenhouse's docs): the pipe spelling
# `updated_at=gte|<ISO-8601>`. A bracket spelling (`updated_at[gte]=`, seen in one connector but
# not in Greenhouse's docs) is refused with a 422, as is a malformed value: a client that relies on
# an undocumented spelling fails here, not silently against the real API.
DATE_FILTER = re.compile(r"^(created_at|updated_at)(?:\[([^\]]*)\])?$")
DATE_OPERATORS = ("gte", "lte")
MAILDROP_ADDRESS = re.compile(r"^maildrop@([a-z0-9-]+\.)*greenhouse\.io$", re.IGNORECASE)

DEMO_SERVICE_USER_ID = 9000
DEMO_FIRST_USER_ID = 9001
DEMO_FIRST_CANDIDATE_ID = 40001
FIRST_NOTE_ID = 700001
STATE_FILE_VERSION = 1
SAVE_INTERVAL = 0.5  # seconds between saves of a changed state (what a SIGKILL may lose)


def _demo_team_members() -> list[tuple[str, str, str, str, str]]:
    return [user for user in demo.DEMO_USERS if user[4] in ("admin", "recruiter")]


def demo_user_ids() -> dict[str, int]:
    """Email → the Greenhouse user id the sandbox's demo data gives each demo team member (a
    reset numbers them again from DEMO_FIRST_USER_ID), so seed_demo can map them up front."""
    members = _demo_team_members()
    return {member[3]: DEMO_FIRST_USER_ID + i for i, member in enumerate(members)}


NO_FAULTS = {
    "error_rate": 0.0,  # share of /v3 requests answered with error_status, before any work
    "error_count": 0,  # the next N /v3 requests answered with error_status
    "error_status": 503,
    "slow_seconds": 0.0,  # delay before answering /v3 and /token
    "down": False,  # /v3 and /token close the connection without an answer
    "reject_tokens": False,  # every bearer token is answered 401
    "write_then_500": 0,  # the next N note writes are saved, then answered 500 (-1: all)
    "drop_after_write": 0,  # the next N note writes are saved, then the connection is dropped
    "candidate_write_then_500": 0,  # the next N candidate creates are saved, then answered 500
}


class StateFileError(Exception):
    """The state file cannot be read; the sandbox refuses to start rather than lose it."""


class UnknownResource(Exception):
    """A control call named a record the sandbox does not hold."""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fail(status: int, message: str, errors=None, headers=None):
    payload = {"message": message}
    if errors is not None:
        payload["errors"] = errors
    return status, payload, headers or {}


@dataclass
class Config:
    rate_limit: int = 75  # requests per window and credential (the docs' example)
    rate_window: int = 30  # seconds; a window opens at the first request after the last ended
    token_lifetime: int = 3600  # seconds
    retry_after_format: str = "seconds"  # or "epoch", as an older revision of the docs said
    # Added to every answer of /token and /v3 (errors, 404s and 429s included; not /_sandbox):
    # the real Greenhouse is ~150 ms away, and a client tuned on a 1 ms sandbox is not tuned.
    latency_ms: int = 0
    latency_jitter_ms: int = 0  # plus a uniform random 0..jitter ms
    # POST /v3/candidates answers with the candidate ("candidate") or, as another client saw
    # it, {"candidate": ..., "application": null} ("wrapped"); reference 3.6: accept both.
    candidate_create_shape: str = "candidate"

    def latency(self) -> float:
        """Seconds to wait before this answer."""
        jitter = random.uniform(0, self.latency_jitter_ms) if self.latency_jitter_ms else 0  # noqa: S311
        return (self.latency_ms + jitter) / 1000


@dataclass
class Credential:
    client_id: str
    client_secret: str = field(repr=False)
    scopes: set = field(default_factory=lambda: set(SCOPES))
    service_user_id: int = DEMO_SERVICE_USER_ID
    revoked: bool = False


@dataclass
class User:
    id: int
    first_name: str
    last_name: str
    primary_email: str | None
    emails: list
    site_admin: bool = False
    deactivated: bool = False
    service_account: bool = False
    created_at: float = field(default_factory=time.time)

    def as_json(self):
        return {
            "id": self.id,
            "name": f"{self.first_name} {self.last_name}".strip(),
            "first_name": self.first_name,
            "last_name": self.last_name,
            "primary_email": self.primary_email,
            "emails": list(self.emails),
            "deactivated": self.deactivated,
            "site_admin": self.site_admin,
            "employee_id": None,
            "job_title": None,
            "office_ids": [],
            "department_ids": [],
            "linked_candidate_ids": [],
            "custom_fields": {},
            "agency_id": None,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.created_at),
        }


@dataclass
class Candidate:
    id: int
    first_name: str | None
    last_name: str | None
    emails: list
    phones: list = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    last_activity_at: float = field(default_factory=time.time)
    created_by_maildrop: bool = False
    preferred_name: str | None = None
    company: str | None = None
    title: str | None = None
    tags: list = field(default_factory=list)
    email_types: dict = field(default_factory=dict)  # address (lower case): type
    phone_types: dict = field(default_factory=dict)  # number: type
    other_addresses: dict = field(default_factory=dict)  # addresses, website_, social_media_
    # Bumped when the candidate is created, edited or takes a merged duplicate (not by a note:
    # that is last_activity_at). None (a state file from before): its creation time.
    updated_at: float | None = None

    def __post_init__(self):
        if self.updated_at is None:
            self.updated_at = self.created_at

    def has_email(self, address: str) -> bool:
        address = address.strip().lower()
        return any(value.lower() == address for value in self.emails)

    def as_json(self):
        return {
            "id": self.id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "preferred_name": self.preferred_name,
            "company": self.company,
            "title": self.title,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at or self.created_at),
            "last_activity_at": _iso(self.last_activity_at),
            "private": False,
            "can_email": True,
            "tags": list(self.tags),
            "linked_user_ids": [],
            "phone_numbers": [
                {"value": p, "type": self.phone_types.get(p, "mobile")} for p in self.phones
            ],
            "addresses": list(self.other_addresses.get("addresses", [])),
            "email_addresses": [
                {"value": e, "type": self.email_types.get(e.lower(), "personal")}
                for e in self.emails
            ],
            "website_addresses": list(self.other_addresses.get("website_addresses", [])),
            "social_media_addresses": list(self.other_addresses.get("social_media_addresses", [])),
            "custom_fields": {},
        }


@dataclass
class Note:
    id: int
    candidate_id: int
    user_id: int | None
    type: str
    visibility: str  # write spelling, as stored
    body: str
    subject: str | None = None
    email_from: list | None = None
    email_to: list | None = None
    email_cc: list | None = None
    application_id: int | None = None
    created_at: float = field(default_factory=time.time)
    source: str = "api"  # or "maildrop"

    def as_json(self):
        return {
            "id": self.id,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.created_at),
            "candidate_id": self.candidate_id,
            "application_id": self.application_id,
            "body": self.body,
            "body_with_tags": self.body,
            "subject": self.subject,
            "type": self.type,
            "user_id": self.user_id,
            "visibility": WRITE_TO_READ_VISIBILITY[self.visibility],
            "email_from": self.email_from,
            "email_to": self.email_to,
            "email_cc": self.email_cc,
            "email_attachment_file_names": [],
            "import_hash": None,
        }


@dataclass
class Token:
    client_id: str
    user_id: int
    expires_at: float


class SandboxState:
    def __init__(self, *, client_id: str, client_secret: str, config: Config | None = None,
                 faults: dict | None = None, demo_data: bool = True, state_file=None,
                 fresh: bool = False, save_interval: float = SAVE_INTERVAL):  # fmt: skip
        self.lock = threading.RLock()
        self.demo_credential = (client_id, client_secret)
        self.start_config = config or Config()
        self.start_faults = {**NO_FAULTS, **(faults or {})}
        self.demo_data = demo_data
        # Note ids never repeat: not after a reset, and (with a state file) not after a restart.
        self._next_note_id = FIRST_NOTE_ID
        self._changes = self._saved_changes = 0
        self.state_file = Path(state_file) if state_file else None
        self._save_lock = threading.Lock()
        self._stop_autosave = threading.Event()
        self._autosave_thread = None
        saved = self._read_state_file(fresh=fresh) if self.state_file else None
        self.reset()
        if saved:
            self._restore(saved)
        if self.state_file:
            self.save()
            if save_interval:
                self._autosave_thread = threading.Thread(
                    target=self._autosave, args=(save_interval,), name="harvest-sandbox-save",
                    daemon=True,
                )  # fmt: skip
                self._autosave_thread.start()

    # --- Set-up ---

    def reset(self) -> None:
        """Back to the state at start: demo data, start-up config and faults, empty logs. Note
        ids go on from where they were (a high-water mark), so an id is never given twice."""
        with self.lock:
            self.config = Config(**asdict(self.start_config))
            self.faults = dict(self.start_faults)
            self.credentials: dict[str, Credential] = {}
            self.users: dict[int, User] = {}
            self.candidates: dict[int, Candidate] = {}
            self.gone: dict[int, dict] = {}  # merged or deleted candidates, for the page
            self.notes: dict[int, Note] = {}
            self.tokens: dict[str, Token] = {}
            self.requests: deque[dict[str, Any]] = deque(maxlen=50_000)
            self.windows: dict[tuple[str, float], dict] = {}  # (client_id, start): counts
            self.current_windows: dict[str, tuple[float, float]] = {}  # client_id: (start, end)
            self.maildrop_log: deque[dict[str, Any]] = deque(maxlen=1_000)
            self._next_user_id = DEMO_FIRST_USER_ID
            self._next_candidate_id = DEMO_FIRST_CANDIDATE_ID
            self._changed()
            client_id, client_secret = self.demo_credential
            self.users[DEMO_SERVICE_USER_ID] = User(
                DEMO_SERVICE_USER_ID, "Integration", "Service User", None, [], site_admin=True,
                service_account=True,
            )  # fmt: skip
            self.add_credential(client_id=client_id, client_secret=client_secret)
            if self.demo_data:
                self._load_demo()

    def _load_demo(self) -> None:
        # Greenhouse users for the demo team's members (support staff work for us, not the team),
        # numbered as demo_user_ids() says.
        for _username, first, last, email, role in _demo_team_members():
            self.add_user(
                first_name=first,
                last_name=last,
                primary_email=email,
                site_admin=role == "admin",
            )
        for first, last, email, phone in demo.DEMO_PROSPECTS[: demo.PROSPECTS_IN_GREENHOUSE]:
            self.add_candidate(first_name=first, last_name=last, emails=[email], phones=[phone])

    def add_credential(self, *, client_id, client_secret, scopes=None, service_user_id=None):
        with self.lock:
            credential = Credential(
                client_id=client_id,
                client_secret=client_secret,
                scopes=set(SCOPES if scopes is None else scopes),
                service_user_id=service_user_id or DEMO_SERVICE_USER_ID,
            )
            self.credentials[client_id] = credential
            return credential

    def revoke_credential(self, client_id: str) -> bool:
        with self.lock:
            credential = self.credentials.get(client_id)
            if credential:
                credential.revoked = True
            return credential is not None

    def add_user(self, *, first_name, last_name, primary_email, emails=None, site_admin=False,
                 deactivated=False) -> User:  # fmt: skip
        with self.lock:
            user = User(
                id=self._next_user_id,
                first_name=first_name,
                last_name=last_name,
                primary_email=primary_email,
                emails=list(emails or ([primary_email] if primary_email else [])),
                site_admin=site_admin,
                deactivated=deactivated,
            )
            self._next_user_id += 1
            self.users[user.id] = user
            self._changed()
            return user

    def add_candidate(self, *, first_name, last_name, emails=(), phones=(), maildrop=False,
                      **details):  # fmt: skip
        """`details`: the other Candidate fields (company, title, email_types, ...)."""
        with self.lock:
            candidate = Candidate(
                id=self._next_candidate_id,
                first_name=first_name,
                last_name=last_name,
                emails=[e.strip() for e in emails],
                phones=list(phones),
                created_by_maildrop=maildrop,
                **details,
            )
            self._next_candidate_id += 1
            self.candidates[candidate.id] = candidate
            self._changed()
            return candidate

    def merge_candidates(self, *, duplicate_id: int, primary_id: int) -> Candidate:
        """Merge `duplicate_id` into `primary_id`, as Greenhouse's merge (and Auto-Merge) does:
        the primary takes the duplicate's email addresses, phone numbers and activity feed, and
        the duplicate "will cease to exist" (reference §3.9): its id is a 404 from then on."""
        with self.lock:
            if duplicate_id == primary_id:
                raise ValueError("a candidate cannot be merged into itself")
            duplicate, primary = self._candidate(duplicate_id), self._candidate(primary_id)
            for address in duplicate.emails:
                if not primary.has_email(address):
                    primary.emails.append(address)
            primary.email_types = {**duplicate.email_types, **primary.email_types}
            primary.phone_types = {**duplicate.phone_types, **primary.phone_types}
            primary.phones += [p for p in duplicate.phones if p not in primary.phones]
            for moved in self.notes.values():
                if moved.candidate_id == duplicate_id:
                    moved.candidate_id = primary_id
            primary.last_activity_at = max(primary.last_activity_at, duplicate.last_activity_at)
            primary.updated_at = time.time()
            del self.candidates[duplicate_id]
            self.gone[duplicate_id] = {"id": duplicate_id, "merged_into": primary_id}
            self._changed()
            for other in self.gone.values():  # an earlier merge into the duplicate
                if other.get("merged_into") == duplicate_id:
                    other["merged_into"] = primary_id
            return primary

    def edit_candidate(self, *, candidate_id: int, add_emails=(), remove_emails=(),
                       first_name=None, last_name=None) -> Candidate:  # fmt: skip
        """Edit a candidate as a recruiter does in Greenhouse (an address added or removed, a
        name changed): its `updated_at` moves to now, so a listing filtered on it finds it."""
        with self.lock:
            candidate = self._candidate(candidate_id)
            for address in add_emails:
                if not candidate.has_email(address):
                    candidate.emails.append(address.strip())
            removed = {a.strip().lower() for a in remove_emails}
            candidate.emails = [e for e in candidate.emails if e.lower() not in removed]
            if first_name is not None:
                candidate.first_name = first_name
            if last_name is not None:
                candidate.last_name = last_name
            candidate.updated_at = time.time()
            self._changed()
            return candidate

    def delete_candidate(self, *, candidate_id: int) -> None:
        """Delete a candidate and their activity feed: 404 everywhere, found by no lookup."""
        with self.lock:
            self._candidate(candidate_id)
            del self.candidates[candidate_id]
            self.notes = {k: n for k, n in self.notes.items() if n.candidate_id != candidate_id}
            self.gone[candidate_id] = {"id": candidate_id, "deleted": True}
            self._changed()

    def _candidate(self, candidate_id) -> Candidate:
        candidate = self.candidates.get(candidate_id) if isinstance(candidate_id, int) else None
        if candidate is None:
            raise UnknownResource(f"no candidate {candidate_id}")
        return candidate

    def set_config(self, **changes) -> dict:
        with self.lock:
            config = Config(**asdict(self.config))
            for name, value in changes.items():
                if not hasattr(config, name):
                    raise ValueError(f"unknown setting {name}")
                setattr(config, name, type(getattr(config, name))(value))
            if config.rate_window < 1 or config.rate_limit < 1 or config.token_lifetime < 1:
                raise ValueError("rate_limit, rate_window and token_lifetime must be at least 1")
            if config.latency_ms < 0 or config.latency_jitter_ms < 0:
                raise ValueError("latency_ms and latency_jitter_ms cannot be negative")
            if config.retry_after_format not in ("seconds", "epoch"):
                raise ValueError("retry_after_format is 'seconds' or 'epoch'")
            if config.candidate_create_shape not in ("candidate", "wrapped"):
                raise ValueError("candidate_create_shape is 'candidate' or 'wrapped'")
            if (config.rate_limit, config.rate_window) != (
                self.config.rate_limit,
                self.config.rate_window,
            ):
                # New rate settings apply from the next request: it opens a new window (one
                # opened under the old settings would otherwise keep its old length).
                self.current_windows.clear()
            self.config = config
            return asdict(config)

    def set_faults(self, **changes) -> dict:
        with self.lock:
            unknown = set(changes) - set(NO_FAULTS)
            if unknown:
                raise ValueError(f"unknown fault {', '.join(sorted(unknown))}")
            for name, value in changes.items():
                self.faults[name] = type(NO_FAULTS[name])(value)
            return dict(self.faults)

    def active_faults(self) -> dict:
        """The faults in effect (error_status only with the error faults it belongs to)."""
        with self.lock:
            active = {k: v for k, v in self.faults.items() if v and k != "error_status"}
            if "error_rate" in active or "error_count" in active:
                active["error_status"] = self.faults["error_status"]
            return active

    def clear_faults(self) -> dict:
        with self.lock:
            self.faults = dict(NO_FAULTS)
            return dict(self.faults)

    def expire_tokens(self) -> int:
        with self.lock:
            for token in self.tokens.values():
                token.expires_at = 0
            return len(self.tokens)

    def exhaust_window(self, client_id: str) -> None:
        """Use up the current window of a credential, as another app sharing it would."""
        with self.lock:
            counts = self._window_counts(client_id, time.time())[0]
            extra = max(0, self.config.rate_limit - counts["received"])
            counts["received"] += extra
            counts["served"] += extra
            counts["external"] += extra

    # --- Persistence ---
    #
    # With a state file, the account (users, candidates, notes, merged/deleted ids, id counters)
    # outlives the process: a developer's feeds survive `make run` restarts. Saving on every
    # request would serialise every note write behind a disk write, so a thread saves at most
    # every SAVE_INTERVAL seconds when something changed, and `close()` saves on a clean stop:
    # a SIGKILL loses at most the last SAVE_INTERVAL seconds. Each save writes a temporary file
    # in the same folder, fsyncs it and renames it over the old one, so a crash mid-save
    # leaves the previous state whole. Not saved: credentials (the demo one comes from the
    # settings; a secret is not written to disk), tokens, config, faults, logs, rate windows.

    def _changed(self) -> None:
        self._changes += 1

    def _snapshot(self) -> dict:
        with self.lock:
            return {
                "version": STATE_FILE_VERSION,
                "next_user_id": self._next_user_id,
                "next_candidate_id": self._next_candidate_id,
                "next_note_id": self._next_note_id,
                "users": [asdict(u) for u in self.users.values()],
                "candidates": [asdict(c) for c in self.candidates.values()],
                "gone": list(self.gone.values()),
                "notes": [asdict(n) for n in self.notes.values()],
            }

    def save(self) -> bool:
        """Write the state file (atomically) if anything changed since the last save."""
        if not self.state_file:
            return False
        with self._save_lock:
            with self.lock:
                changes = self._changes
                if changes == self._saved_changes and self.state_file.exists():
                    return False
                data = json.dumps(self._snapshot(), separators=(",", ":"))
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.state_file.with_name(f".{self.state_file.name}.{os.getpid()}.tmp")
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.state_file)
            self._saved_changes = changes
            return True

    def _autosave(self, interval: float) -> None:
        while not self._stop_autosave.wait(interval):
            try:
                self.save()
            except OSError:
                logger.exception("The Harvest sandbox could not save %s", self.state_file)

    def close(self) -> None:
        """Stop the save thread and save what is left (a clean stop loses nothing)."""
        self._stop_autosave.set()
        if self._autosave_thread:
            self._autosave_thread.join()
        self.save()

    def _read_state_file(self, *, fresh: bool):
        """The saved state, or None for a new file. `fresh` (--reset): start from the demo data
        and keep only the note-id high-water mark; an unreadable file is then kept aside."""
        path = self.state_file
        if path is None or not path.exists():
            return None
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(saved, dict) or saved.get("version") != STATE_FILE_VERSION:
                raise ValueError(f"not a version {STATE_FILE_VERSION} sandbox state")
            int(saved["next_note_id"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if not fresh:
                raise StateFileError(
                    f"{path} cannot be read as the Harvest sandbox's state ({exc}). Nothing was "
                    "changed: move it away, or start with --reset (which keeps it aside)."
                ) from exc
            kept = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
            os.replace(path, kept)
            logger.warning("Kept the unreadable sandbox state file as %s", kept)
            return None
        if fresh:
            self._next_note_id = max(FIRST_NOTE_ID, int(saved["next_note_id"]))
            return None
        return saved

    def _restore(self, saved: dict) -> None:
        try:
            users = {u["id"]: User(**u) for u in saved["users"]}
            candidates = {c["id"]: Candidate(**c) for c in saved["candidates"]}
            notes = {n["id"]: Note(**n) for n in saved["notes"]}
            gone = {g["id"]: dict(g) for g in saved.get("gone", [])}
            counters = [int(saved[name]) for name in ("next_user_id", "next_candidate_id")]
        except (KeyError, TypeError, ValueError) as exc:
            raise StateFileError(
                f"{self.state_file} has a broken record ({exc!r}). Nothing was changed: move it "
                "away, or start with --reset (which keeps it aside)."
            ) from exc
        with self.lock:
            self.users, self.candidates, self.notes, self.gone = users, candidates, notes, gone
            self._next_user_id, self._next_candidate_id = counters
            self._next_note_id = max(
                self._next_note_id, int(saved["next_note_id"]), max(notes, default=0) + 1
            )
            self._saved_changes = self._changes

    # --- Faults ---

    def take_fault(self, name: str) -> bool:
        """Whether a counted fault (write_then_500, drop_after_write, error_count) fires now."""
        with self.lock:
            value = self.faults.get(name, 0)
            if value == 0:
                return False
            if value > 0:
                self.faults[name] = value - 1
            return True

    def fault_error(self) -> bool:
        with self.lock:
            if self.take_fault("error_count"):
                return True
            rate = self.faults["error_rate"]
            return rate > 0 and random.random() < rate  # noqa: S311  (fault injection)

    # --- Logs and rate windows ---

    def _window_counts(self, client_id: str, now: float):
        """The credential's current window, opened by the first request after the previous one
        ended (a fixed window that starts when it is first used, not on a clock boundary: a
        client cannot learn the boundaries by looking at the clock)."""
        current = self.current_windows.get(client_id)
        if current is None or now >= current[1]:
            current = (now, now + self.config.rate_window)
            self.current_windows[client_id] = current
            self.windows[(client_id, now)] = {
                "received": 0, "served": 0, "rejected": 0, "external": 0, "end": current[1],
            }  # fmt: skip
            if len(self.windows) > 20_000:
                for old in sorted(self.windows, key=lambda k: k[1])[:10_000]:
                    del self.windows[old]
        start, end = current
        return self.windows[(client_id, start)], start, end

    def rate_check(self, client_id: str):
        """Count a /v3 request; (allowed, headers)."""
        with self.lock:
            now = time.time()
            counts, start, end = self._window_counts(client_id, now)
            limit = self.config.rate_limit
            counts["received"] += 1
            allowed = counts["received"] <= limit
            counts["served" if allowed else "rejected"] += 1
            # Whole seconds, rounded down: Greenhouse does not document its rounding, so the
            # sandbox takes the direction that is harder for a client. A reset given as
            # `floor(end)` may be up to a second early, and a client that trusts it to the
            # second (or a Retry-After rounded down the same way) gets another 429.
            headers = {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(max(0, limit - counts["received"])),
                "X-RateLimit-Reset": str(math.floor(end)),
            }
            if not allowed:
                wait = max(1, math.floor(end - now))
                headers["Retry-After"] = (
                    str(math.floor(end)) if self.config.retry_after_format == "epoch" else str(wait)
                )
            return allowed, headers, start

    def log_request(self, *, method, path, query, status, client_id=None, window=None):
        with self.lock:
            self.requests.append(
                {
                    "at": time.time(),
                    "method": method,
                    "path": path,
                    "query": query,
                    "status": status,
                    "client_id": client_id,
                    "window_start": window,
                }
            )

    def windows_json(self) -> list[dict]:
        with self.lock:
            limit = self.config.rate_limit
            return [
                {
                    "client_id": client_id,
                    "window_start": start,
                    "window_end": counts["end"],
                    "limit": limit,
                    **{k: v for k, v in counts.items() if k != "end"},
                }
                for (client_id, start), counts in sorted(
                    self.windows.items(), key=lambda i: i[0][1]
                )
            ]

    # --- OAuth ---

    def issue_token(self, *, basic: tuple[str, str] | None, form: dict):
        if basic is None:
            return _fail(401, "Unauthorized")
        client_id, client_secret = basic
        with self.lock:
            credential = self.credentials.get(client_id)
            if (
                credential is None
                or credential.revoked
                or not secrets.compare_digest(credential.client_secret, client_secret)
            ):
                return 401, {"error": "invalid_client"}, {}
            grant_type = form.get("grant_type")
            if not grant_type:
                return (
                    400,
                    {"error": "invalid_request", "error_description": "grant_type is required"},
                    {},
                )
            if grant_type != "client_credentials":
                return 400, {"error": "unsupported_grant_type"}, {}
            sub = form.get("sub")
            if sub:
                try:
                    user = self.users.get(int(sub))
                except ValueError:
                    user = None
                if user is None or user.deactivated:
                    return 400, {
                        "error": "invalid_grant",
                        "error_description": "sub is not an active user of this organization",
                    }, {}  # fmt: skip
                user_id = user.id
            else:
                user_id = credential.service_user_id
            value = secrets.token_urlsafe(32)
            lifetime = self.config.token_lifetime
            self.tokens[value] = Token(client_id, user_id, time.time() + lifetime)
            return 200, {"access_token": value, "token_type": "Bearer", "expires_in": lifetime}, {}

    def authenticate(self, authorization: str | None):
        """(token, None) or (None, error response)."""
        if not authorization or not authorization.startswith("Bearer "):
            return None, _fail(401, "Unauthorized")
        with self.lock:
            token = self.tokens.get(authorization.removeprefix("Bearer ").strip())
            if token is None or self.faults["reject_tokens"]:
                return None, _fail(
                    401,
                    "Unauthorized",
                    [BAD_BEARER_MESSAGE],
                )
            credential = self.credentials.get(token.client_id)
            if token.expires_at <= time.time() or credential is None or credential.revoked:
                return None, _fail(401, "Unauthorized", ["Token has expired."])
            return token, None

    def authorize(self, token: Token, *, scope: str, list_endpoint: bool):
        with self.lock:
            credential = self.credentials[token.client_id]
            if scope not in credential.scopes:
                return _fail(403, "Forbidden", [f"This credential is missing the {scope} scope."])
            user = self.users.get(token.user_id)
            if list_endpoint and not (user and user.site_admin):
                return _fail(403, "Forbidden", [SITE_ADMIN_RULE])
            return None

    # --- Lists ---

    def list_resource(self, resource: str, query: dict[str, list[str]], base_url: str):
        """GET /v3/<resource>: filters and per_page on the first page, then the cursor alone."""
        if "cursor" in query:
            if len(query) > 1 or len(query["cursor"]) > 1:
                return _fail(422, UNPROCESSABLE, [CURSOR_RULE])
            try:
                cursor = json.loads(base64.urlsafe_b64decode(query["cursor"][0].encode()))
                filters, per_page, after = cursor["f"], int(cursor["p"]), int(cursor["a"])
                if cursor["r"] != resource:
                    raise ValueError
            except (ValueError, KeyError, TypeError, binascii.Error):
                return _fail(422, UNPROCESSABLE, ["The cursor is not valid."])
        else:
            filters = {name: values[-1] for name, values in query.items()}
            per_page_text = filters.pop("per_page", str(DEFAULT_PER_PAGE))
            try:
                per_page = int(per_page_text)
            except ValueError:
                return _fail(
                    422, UNPROCESSABLE, [{"per_page": f"`{per_page_text}` is not a number"}]
                )
            if per_page > MAX_PER_PAGE:
                return _fail(
                    422, UNPROCESSABLE, [{"per_page": f"`{per_page}` number is greater than: 500"}]
                )
            if per_page < 1:
                return _fail(
                    422, UNPROCESSABLE, [{"per_page": f"`{per_page}` number is less than: 1"}]
                )
            after = None
        with self.lock:
            items, error = self._filtered(resource, filters)
            if error:
                return error
            items = sorted(items, key=lambda item: item.id, reverse=True)
            if after is not None:
                items = [item for item in items if item.id < after]
            page, rest = items[:per_page], items[per_page:]
            headers = {}
            if rest:
                cursor = {"r": resource, "f": filters, "p": per_page, "a": page[-1].id}
                token = base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode()
                headers["Link"] = f'<{base_url}/v3/{resource}?cursor={token}>; rel="next"'
            return 200, [item.as_json() for item in page], headers

    @staticmethod
    def _date_filters(filters: dict):
        """([(field, operator, epoch seconds)], None) or (None, a 422) from the date filters."""
        found = []
        for name, value in filters.items():
            match = DATE_FILTER.match(name)
            if match is None:
                continue
            field_name, operator = match.groups()
            if operator is not None:
                return None, _fail(
                    422, UNPROCESSABLE,
                    [{name: f"not a filter: date filters are {field_name}=gte|<ISO-8601>"}],
                )  # fmt: skip
            operator, _, text = value.partition("|")  # updated_at=gte|2024-01-01T00:00:00Z
            if operator not in DATE_OPERATORS:
                return None, _fail(
                    422, UNPROCESSABLE,
                    [{name: f"`{operator}` is not one of: {', '.join(DATE_OPERATORS)}"}],
                )  # fmt: skip
            try:
                when = datetime.fromisoformat(text.strip())
            except ValueError:
                when = None
            if when is None or not text.strip():
                return None, _fail(
                    422, UNPROCESSABLE, [{name: f"`{text}` is not a valid ISO-8601 date-time"}]
                )
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            found.append((field_name, operator, when.timestamp()))
        return found, None

    @staticmethod
    def _stamp(item, field_name: str) -> float:
        if field_name == "updated_at" and isinstance(item, Candidate):
            return item.updated_at or item.created_at
        return item.created_at  # users and notes are never edited here

    def _filtered(self, resource: str, filters: dict):
        dates, error = self._date_filters(filters)
        if error:
            return None, error
        ids = None
        if "ids" in filters:
            try:
                ids = {int(part) for part in filters["ids"].split(",") if part.strip()}
            except ValueError:
                return None, _fail(422, UNPROCESSABLE, [{"ids": "must be a list of integers"}])
            if len(ids) > MAX_IDS:
                return None, _fail(422, UNPROCESSABLE, [{"ids": f"at most {MAX_IDS} ids"}])
        items: list[Any]
        if resource == "candidates":
            items = list(self.candidates.values())
            if filters.get("email"):
                items = [c for c in items if c.has_email(filters["email"])]
        elif resource == "users":
            show_service = filters.get("show_service_accounts") == "true"
            items = [u for u in self.users.values() if show_service or not u.service_account]
            if filters.get("primary_email"):
                wanted = filters["primary_email"].strip().lower()
                items = [u for u in items if (u.primary_email or "").lower() == wanted]
            if "deactivated" in filters:
                items = [u for u in items if u.deactivated == (filters["deactivated"] == "true")]
        elif resource == "notes":
            items = list(self.notes.values())
            if "candidate_ids" in filters:
                try:
                    wanted = {int(p) for p in filters["candidate_ids"].split(",") if p.strip()}
                except ValueError:
                    return None, _fail(
                        422, UNPROCESSABLE, [{"candidate_ids": "must be a list of integers"}]
                    )
                items = [n for n in items if n.candidate_id in wanted]
            if "type" in filters:
                items = [n for n in items if n.type == filters["type"]]
        else:
            return None, _fail(404, NOT_FOUND)
        if ids is not None:
            items = [item for item in items if item.id in ids]
        for field_name, operator, bound in dates or []:
            if operator == "gte":
                items = [item for item in items if self._stamp(item, field_name) >= bound]
            else:
                items = [item for item in items if self._stamp(item, field_name) <= bound]
        return items, None

    # --- Candidates ---

    def create_candidate(self, data) -> tuple:
        """POST /v3/candidates (reference §3.6): first_name and last_name required, typed email
        and phone lists, 422 with every problem at once. Like Greenhouse, no duplicate check:
        a second call with the same email makes a second candidate."""
        if not isinstance(data, dict):
            return _fail(400, "Bad Request", ["The request body must be a JSON object."])
        errors = []
        for name in NAME_FIELDS:
            value = data.get(name)
            if name in ("first_name", "last_name") and value is None:
                errors.append({name: "is required"})
            elif value is not None and not isinstance(value, str):
                errors.append({name: "must be a string"})
            elif (
                name in ("first_name", "last_name") and isinstance(value, str) and not value.strip()
            ):
                errors.append({name: "cannot be blank"})
        emails, email_types = self._typed_values(
            data, "email_addresses", EMAIL_TYPES, errors, shape=EMAIL_SHAPE,
            shape_message="is not an email address",
        )  # fmt: skip
        phones, phone_types = self._typed_values(data, "phone_numbers", PHONE_TYPES, errors)
        other = {}
        for name in OTHER_ADDRESSES:
            value = data.get(name, [])
            if not isinstance(value, list) or not all(
                isinstance(v, dict) and isinstance(v.get("value"), str) and v["value"].strip()
                for v in value
            ):
                errors.append({name: "must be an array of objects with a value"})
            elif value:
                other[name] = value
        tags = data.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            errors.append({"tags": "must be an array of strings"})
        application = data.get("application")
        if application is not None:
            job_id = application.get("job_id") if isinstance(application, dict) else None
            # The sandbox has no jobs, so no job_id names one.
            errors.append({"application": f"Job {job_id} does not exist"})
        if errors:
            return _fail(422, UNPROCESSABLE, errors)
        candidate = self.add_candidate(
            first_name=data["first_name"].strip(),
            last_name=data["last_name"].strip(),
            emails=emails,
            phones=phones,
            email_types={e.lower(): t for e, t in email_types.items()},
            phone_types=phone_types,
            preferred_name=data.get("preferred_name"),
            company=data.get("company"),
            title=data.get("title"),
            tags=list(tags),
            other_addresses=other,
        )
        if self.config.candidate_create_shape == "wrapped":
            return 201, {"candidate": candidate.as_json(), "application": None}, {}
        return 201, candidate.as_json(), {}

    @staticmethod
    def _typed_values(data, name, types, errors, *, shape=None, shape_message=""):
        """([values], {value: type}) from a `[{value, type}]` field, adding to `errors`."""
        items = data.get(name, [])
        if not isinstance(items, list):
            errors.append({name: "must be an array of {value, type} objects"})
            return [], {}
        values, kinds = [], {}
        for index, item in enumerate(items):
            where = f"{name}[{index}]"
            if not isinstance(item, dict):
                errors.append({where: "must be a {value, type} object"})
                continue
            value, kind = item.get("value"), item.get("type")
            if not isinstance(value, str) or not value.strip():
                errors.append({f"{where}.value": "is required"})
            elif shape is not None and not shape.match(value.strip()):
                errors.append({f"{where}.value": f"`{value}` {shape_message}"})
            if kind not in types:
                errors.append({f"{where}.type": f"must be one of: {', '.join(types)}"})
            if isinstance(value, str) and value.strip() and kind in types:
                values.append(value.strip())
                kinds[value.strip()] = kind
        return values, kinds

    # --- Notes ---

    def create_note(self, token: Token, data) -> tuple:
        if not isinstance(data, dict):
            return _fail(400, "Bad Request", ["The request body must be a JSON object."])
        errors = []
        with self.lock:
            candidate_id = data.get("candidate_id")
            if candidate_id is None:
                errors.append({"candidate_id": "is required"})
            elif not isinstance(candidate_id, int) or isinstance(candidate_id, bool):
                errors.append({"candidate_id": "must be an integer"})
            elif candidate_id not in self.candidates:
                # The note's candidate is a single resource looked up before the note is
                # validated: Harvest v3's 404 (reference §4.3), also for a candidate merged into
                # another (its id "will cease to exist", §3.9) or deleted. What v3 answers for a
                # merged id is not documented; 404 is the conservative reading.
                return _fail(404, NOT_FOUND)

            body = data.get("body")
            if body is None:
                errors.append({"body": "is required"})
            elif not isinstance(body, str) or not body.strip():
                errors.append({"body": "must be a non-empty string"})

            note_type = data.get("note_type", "NOTE")
            if note_type in READ_ONLY_NOTE_TYPES:
                errors.append({"note_type": f"{note_type} notes cannot be created"})
            elif note_type not in CREATABLE_NOTE_TYPES:
                errors.append({"note_type": "must be one of: NOTE, ACTIVITY, EMAIL"})

            visibility = data.get("visibility")
            if visibility is None:
                errors.append({"visibility": "is required"})
            elif visibility not in WRITE_TO_READ_VISIBILITY:
                errors.append({"visibility": "must be one of: public, private, admin_only"})

            email_fields = ("email_from", "email_to", "email_cc")
            if note_type == "EMAIL":
                subject = data.get("subject")
                if not isinstance(subject, str) or not subject.strip():
                    errors.append({"subject": "is required for EMAIL notes"})
                for name in email_fields:
                    value = data.get(name)
                    if name not in data:
                        errors.append(
                            {name: "must be present for EMAIL notes (it may be empty)"}
                            if name == "email_cc"
                            else {name: "is required for EMAIL notes"}
                        )
                    elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                        errors.append({name: "must be an array of strings"})
                    elif not value and name != "email_cc":
                        errors.append({name: "is required for EMAIL notes"})
            else:
                errors += [
                    {name: "is only allowed when note_type is EMAIL"}
                    for name in email_fields
                    if name in data
                ]

            user_id = data.get("user_id")
            if user_id is not None:
                user = self.users.get(user_id) if isinstance(user_id, int) else None
                if user is None or user.deactivated:
                    errors.append({"user_id": f"User {user_id} does not exist"})
            application_id = data.get("application_id")
            if application_id is not None:
                errors.append({"application_id": f"Application {application_id} does not exist"})

            if errors:
                return _fail(422, UNPROCESSABLE, errors)
            note = self._add_note(
                candidate_id=candidate_id,
                user_id=user_id if user_id is not None else token.user_id,
                type=note_type,
                visibility=visibility,
                body=body,
                subject=data.get("subject"),
                email_from=data.get("email_from") if note_type == "EMAIL" else None,
                email_to=data.get("email_to") if note_type == "EMAIL" else None,
                email_cc=data.get("email_cc") if note_type == "EMAIL" else None,
            )
            return 201, note.as_json(), {}

    def _add_note(self, **fields) -> Note:
        note = Note(id=self._next_note_id, **fields)
        self._next_note_id += 1
        self.notes[note.id] = note
        self._changed()
        self.candidates[note.candidate_id].last_activity_at = note.created_at
        return note

    # --- Maildrop ---

    def maildrop(self, raw: bytes):
        """Log a BCC'd email as Greenhouse Maildrop does: an EMAIL entry on the candidate whose
        address matches a To recipient; with no match, on a new empty profile."""
        try:
            message = BytesParser(policy=email_policy.default).parsebytes(raw)
        except Exception:
            return _fail(400, "Bad Request", ["The body is not an RFC 822 message."])
        sender = parseaddr(str(message.get("From", "")))[1].strip().lower()
        to = [a.strip().lower() for _, a in getaddresses(message.get_all("To", [])) if a.strip()]
        cc = [a.strip().lower() for _, a in getaddresses(message.get_all("Cc", [])) if a.strip()]
        subject = str(message.get("Subject", ""))
        part = message.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part is not None else ""
        if part is not None and part.get_content_type() == "text/html":
            body = re.sub(r"<[^>]+>", "", body)
        with self.lock:
            author = next(
                (
                    u
                    for u in self.users.values()
                    if not u.deactivated and sender in [e.lower() for e in u.emails]
                ),
                None,
            )
            if author is None:
                self.maildrop_log.append({"at": time.time(), "from": sender, "logged": False})
                return _fail(
                    422,
                    "Maildrop did not recognise the sender",
                    [f"{sender or 'The sender'} is not the email address of a Greenhouse user."],
                )
            entries = []
            for address in to:
                if MAILDROP_ADDRESS.match(address) or address == sender:
                    continue
                matches = sorted(
                    (c for c in self.candidates.values() if c.has_email(address)),
                    key=lambda c: c.id,
                )
                created = not matches
                candidate = matches[0] if matches else self.add_candidate(
                    first_name=None, last_name=None, emails=[address], maildrop=True
                )  # fmt: skip
                note = self._add_note(
                    candidate_id=candidate.id,
                    user_id=author.id,
                    type="EMAIL",
                    visibility="public",
                    body=body,
                    subject=subject,
                    email_from=[sender],
                    email_to=to,
                    email_cc=cc,
                    source="maildrop",
                )
                entries.append(
                    {"candidate_id": candidate.id, "note_id": note.id, "created_candidate": created}
                )
            self.maildrop_log.append({"at": time.time(), "from": sender, "logged": bool(entries)})
            return 202, {"logged": entries}, {}

    # --- Views for people and tests ---

    def notes_json(self) -> list[dict]:
        with self.lock:
            return [
                {**n.as_json(), "source": n.source}
                for n in sorted(self.notes.values(), key=lambda n: n.id)
            ]

    def summary(self) -> dict:
        with self.lock:
            return {
                "config": asdict(self.config),
                "faults": dict(self.faults),
                "credentials": [
                    {"client_id": c.client_id, "scopes": sorted(c.scopes), "revoked": c.revoked}
                    for c in self.credentials.values()
                ],
                "counts": {
                    "users": len(self.users),
                    "candidates": len(self.candidates),
                    "notes": len(self.notes),
                    "tokens": len(self.tokens),
                    "requests": len(self.requests),
                },
            }

    def feed(self) -> dict:
        """Candidates with their activity feeds (newest first), for the HTML page."""
        with self.lock:
            users: dict[int | None, User] = {u.id: u for u in self.users.values()}
            candidates = []
            for candidate in sorted(self.candidates.values(), key=lambda c: c.id):
                notes = sorted(
                    (n for n in self.notes.values() if n.candidate_id == candidate.id),
                    key=lambda n: n.id,
                    reverse=True,
                )
                candidates.append(
                    {
                        "candidate": candidate,
                        "name": f"{candidate.first_name or ''} {candidate.last_name or ''}".strip(),
                        "notes": [
                            {
                                "note": n,
                                "created_at": datetime.fromtimestamp(n.created_at, UTC),
                                "author": users.get(n.user_id),
                                "visibility": WRITE_TO_READ_VISIBILITY[n.visibility],
                            }
                            for n in notes
                        ],
                    }
                )
            return {
                "candidates": candidates,
                "users": sorted(users.values(), key=lambda u: u.id),
                "config": asdict(self.config),
                "active_faults": self.active_faults(),
                "gone": sorted(self.gone.values(), key=lambda g: g["id"]),
                "state_file": self.state_file,
                "windows": self.windows_json()[-8:],
                "client_id": self.demo_credential[0],
            }
