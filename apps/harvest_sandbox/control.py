"""Drive a running Harvest sandbox over HTTP (its /_sandbox/ control API): faults, limits, data."""

from dataclasses import dataclass, field
from email.message import EmailMessage

import requests


@dataclass
class SandboxControl:
    url: str
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    def _call(self, method: str, path: str, **kwargs):
        response = self.session.request(method, f"{self.url}/_sandbox/{path}", timeout=10, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"sandbox {method} {path}: {response.status_code} {response.text}")
        return response.json()

    # --- Behaviour ---

    def reset(self) -> dict:
        return self._call("POST", "reset")

    def configure(self, **config) -> dict:
        """rate_limit, rate_window (s), token_lifetime (s), retry_after_format, latency_ms,
        latency_jitter_ms, candidate_create_shape ("candidate" or "wrapped")."""
        return self._call("POST", "config", json=config)

    def set_faults(self, **faults) -> dict:
        """error_rate, error_count, error_status, slow_seconds, down, reject_tokens,
        write_then_500, drop_after_write (see sandbox.state.NO_FAULTS)."""
        return self._call("POST", "faults", json=faults)

    def clear_faults(self) -> dict:
        return self._call("DELETE", "faults")

    def expire_tokens(self) -> int:
        return self._call("POST", "tokens/expire")["expired"]

    def exhaust_window(self, client_id: str | None = None) -> None:
        self._call("POST", "ratelimit/exhaust", json={"client_id": client_id or self.client_id})

    # --- Data ---

    def add_candidate(
        self, *, first_name="Test", last_name="Candidate", emails=(), phones=(), age_seconds=0.0
    ):
        """`age_seconds`: created (and last updated) that long ago."""
        return self._call(
            "POST",
            "candidates",
            json={
                "first_name": first_name,
                "last_name": last_name,
                "emails": list(emails),
                "phones": list(phones),
                "age_seconds": age_seconds,
            },
        )

    def create_candidate(self, **body) -> requests.Response:
        """A candidate from a POST /v3/candidates body (first_name, last_name,
        email_addresses=[{value, type}], ...), validated as Harvest does, with no token or
        rate limit; the raw answer (201 with the candidate, or 422 with the errors)."""
        return self.session.post(f"{self.url}/_sandbox/candidates", json=body, timeout=10)

    def merge_candidates(self, *, duplicate_id: int, into_id: int) -> dict:
        """Merge candidate `duplicate_id` into `into_id` (which keeps its id and takes the
        duplicate's emails and feed); returns the merged candidate."""
        return self._call(
            "POST",
            "candidates/merge",
            json={"duplicate_candidate_id": duplicate_id, "primary_candidate_id": into_id},
        )

    def edit_candidate(
        self, candidate_id: int, *, add_emails=(), remove_emails=(), **names
    ) -> dict:
        """Edit a candidate as a recruiter would (its `updated_at` moves to now); returns it."""
        return self._call(
            "POST",
            "candidates/edit",
            json={
                "candidate_id": candidate_id,
                "add_emails": list(add_emails),
                "remove_emails": list(remove_emails),
                **names,
            },
        )

    def delete_candidate(self, candidate_id: int) -> None:
        self._call("POST", "candidates/delete", json={"candidate_id": candidate_id})

    def add_user(self, *, first_name="Test", last_name="User", primary_email=None, site_admin=False,
                 deactivated=False) -> dict:  # fmt: skip
        return self._call(
            "POST",
            "users",
            json={
                "first_name": first_name,
                "last_name": last_name,
                "primary_email": primary_email,
                "site_admin": site_admin,
                "deactivated": deactivated,
            },
        )

    def add_credential(self, *, client_id, client_secret, scopes=None) -> dict:
        payload = {"client_id": client_id, "client_secret": client_secret}
        if scopes is not None:
            payload["scopes"] = list(scopes)
        return self._call("POST", "credentials", json=payload)

    def revoke_credential(self, client_id: str) -> None:
        self._call("POST", "credentials/revoke", json={"client_id": client_id})

    def maildrop(self, message: EmailMessage | bytes) -> requests.Response:
        raw = message if isinstance(message, bytes) else message.as_bytes()
        return self.session.post(
            f"{self.url}/_sandbox/maildrop",
            data=raw,
            headers={"Content-Type": "message/rfc822"},
            timeout=10,
        )

    # --- What happened ---

    def state(self) -> dict:
        return self._call("GET", "state")

    def notes(self) -> list[dict]:
        return self._call("GET", "notes.json")

    def candidates(self) -> list[dict]:
        return self._call("GET", "candidates.json")

    def users(self) -> list[dict]:
        return self._call("GET", "users.json")

    def requests(self, *, path: str | None = None) -> list[dict]:
        log = self._call("GET", "requests.json")
        return [entry for entry in log if path is None or entry["path"] == path]

    def windows(self, client_id: str | None = None) -> list[dict]:
        return [
            w
            for w in self._call("GET", "windows.json")
            if client_id is None or w["client_id"] == client_id
        ]

    def user_id(self, email: str) -> int:
        return next(u["id"] for u in self.users() if u["primary_email"] == email)

    def candidate_id(self, email: str) -> int:
        return next(
            c["id"]
            for c in self.candidates()
            if any(a["value"] == email for a in c["email_addresses"])
        )
