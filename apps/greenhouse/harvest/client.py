"""A client for Greenhouse Harvest v3 (OAuth client credentials, bearer tokens, cursor pages).

- Tokens are cached per (credential, sub) in Django's cache, so every process shares them; they are
  refreshed before they expire, and once more when Harvest answers 401.
- Every /v3 request first takes a slot from the credential's RateBudget (shared by all workers).
- Errors are typed (HarvestError subclasses) and their messages are plain words without secrets:
  neither the client secret nor an access token is ever logged or put in a message.
- A POST that was sent and then met a timeout, a dropped connection or a 5xx raises
  HarvestAmbiguousWrite: the note may exist, so read the candidate's notes before writing again.
- It contacts only the hosts of settings.GREENHOUSE_HOSTS (the operator's profiles; a tenant
  never types a URL): every URL, pagination links included, is checked before a socket opens,
  and no redirect is followed. A value that reached the database some other way is refused too.
- Text from an answer reaches a message only when it has Greenhouse's documented error shape,
  cut short and stripped of control characters; anything else is logged, and the message says
  only what happened (templates escape what is shown).
- With a `Deadline`, everything the client does ends on time, whatever the host sends.
"""

import hashlib
import hmac
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.cache import cache
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
)

from apps.core import crypto

from .deadline import Deadline
from .errors import (
    HarvestAmbiguousWrite,
    HarvestAuthenticationError,
    HarvestDeadlineExceeded,
    HarvestError,
    HarvestNotFound,
    HarvestPermissionError,
    HarvestRateLimited,
    HarvestResourceNotFound,
    HarvestServerError,
    HarvestUnavailable,
    HarvestValidationError,
    clip_text,
    greenhouse_messages,
    json_or_none,
)
from .hosts import check_url_allowed, host_profile
from .ratelimit import Answer, Grant, RateBudget, RateBudgetExceeded, parse_retry_after

logger = logging.getLogger(__name__)

NOTE_TYPES = ("NOTE", "ACTIVITY", "EMAIL")
# Harvest reads visibility back as "publicly_visible" etc. but only accepts the write spelling.
VISIBILITIES = ("public", "private", "admin_only")
READ_TO_WRITE_VISIBILITY = {
    "publicly_visible": "public",
    "privately_visible": "private",
    "admin_only_visible": "admin_only",
}
MAX_IDS_PER_REQUEST = 50
MAX_PER_PAGE = 500
USER_AGENT = "outreach-greenhouse-sync/1.0"


# --- Credentials -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HarvestCredentials:
    client_id: str
    client_secret: str = field(repr=False)
    api_base_url: str
    token_url: str

    @property
    def host(self) -> str:
        return urlsplit(self.api_base_url).netloc

    @classmethod
    def for_host(cls, key: str, *, client_id: str, client_secret: str) -> "HarvestCredentials":
        """The credential on the configured host profile `key` (HarvestHostNotAllowed if none)."""
        profile = host_profile(key)
        return cls(client_id, client_secret, profile.api_base_url, profile.token_url)


@dataclass(frozen=True)
class TokenStatus:
    cached: bool
    expires_in: float | None = None


def _was_not_sent(exc: requests.RequestException) -> bool:
    """True when the connection failed before the request left (nothing reached Greenhouse)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, NewConnectionError | NameResolutionError | ConnectTimeoutError)


class _CutByDeadline(requests.ConnectionError):
    """An answer that ended after the caller's deadline: handled as a dropped connection."""


_sessions: dict[tuple[int, int], requests.Session] = {}


def new_session() -> requests.Session:
    """A session that goes where the operator said and nowhere else: it ignores the process's
    environment (HTTP(S)_PROXY, ~/.netrc, REQUESTS_CA_BUNDLE), which could route the bearer token
    through a proxy or add credentials nobody configured; an outbound proxy is named in settings
    (GREENHOUSE_HTTPS_PROXY). Reading that environment on every request was also half of a
    note's time in the client (docs/benchmarks.md section 9)."""
    session = requests.Session()
    session.trust_env = False
    proxy = settings.GREENHOUSE_HTTPS_PROXY
    if proxy:
        session.proxies = {"https": proxy, "http": proxy}
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    return session


def shared_session() -> requests.Session:
    """One keep-alive session per process and thread: a forked worker gets its own, and so does
    each thread of a `--pool threads` worker (requests does not promise a Session is safe to
    share between threads)."""
    key = (os.getpid(), threading.get_ident())
    session = _sessions.get(key)
    if session is None:
        if any(pid != key[0] for pid, _ in _sessions):
            _sessions.clear()  # inherited from the parent process: not ours to use
        session = _sessions[key] = new_session()
    return session


def created_candidate(answer: object, *, status: int | None = None) -> dict[str, Any]:
    """The candidate of a POST /v3/candidates answer, in either shape seen: the candidate
    itself, or `{"candidate": {...}, "application": {...}}`."""
    if isinstance(answer, dict) and isinstance(answer.get("candidate"), dict):
        answer = answer["candidate"]
    if isinstance(answer, dict) and isinstance(answer.get("id"), int):
        return answer
    raise HarvestAmbiguousWrite(
        "Greenhouse accepted the candidate but its answer has no candidate id.", status=status
    )


# --- The client --------------------------------------------------------------------------------


class HarvestClient:
    def __init__(
        self,
        credentials: HarvestCredentials,
        *,
        sub: int | None = None,
        session: requests.Session | None = None,
        budget: RateBudget | None = None,
        timeout: tuple[float, float] | None = None,
        max_rate_wait: float | None = None,
        read_retries: int = 2,
        retry_backoff: float = 0.5,
        deadline: Deadline | None = None,
    ):
        """`deadline`: a wall-clock limit for everything this client does (its sockets are cut
        when it passes); it needs a session of its own, so `session` is then a fresh one."""
        self.credentials = credentials
        self.sub = sub
        self.deadline = deadline
        if session is None:
            session = deadline.bind(new_session()) if deadline else shared_session()
        self.session = session
        self.budget = budget or RateBudget.for_credential(
            api_base_url=credentials.api_base_url, client_id=credentials.client_id
        )
        self.timeout = timeout or (
            settings.GREENHOUSE_CONNECT_TIMEOUT,
            settings.GREENHOUSE_READ_TIMEOUT,
        )
        self.max_rate_wait = (
            settings.GREENHOUSE_RATE_MAX_WAIT if max_rate_wait is None else max_rate_wait
        )
        self.read_retries = read_retries
        self.retry_backoff = retry_backoff
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_refresh_at = 0.0
        # A batch's rate slots (`reserve`): how many it still wants, those reserved and not sent
        # yet, and the answers not yet told to the budget.
        self._wanted = 0
        self._reserved: list[Grant] = []
        self._answers: list[Answer] = []

    def __repr__(self) -> str:
        credentials = self.credentials
        return f"<HarvestClient {credentials.client_id} at {credentials.host} sub={self.sub}>"

    # --- Tokens ---

    @property
    def _token_cache_key(self) -> str:
        # Keyed by a MAC of the credential (secret included, so a new secret means a new token),
        # never by the secret itself.
        material = "\n".join(
            [self.credentials.token_url, self.credentials.client_id, str(self.sub or "")]
        )
        digest = hmac.new(
            self.credentials.client_secret.encode(), material.encode(), hashlib.sha256
        ).hexdigest()[:32]
        return f"{settings.GREENHOUSE_KEY_PREFIX}:token:{digest}"

    def _cached_token(self) -> tuple[str, float, float] | None:
        entry = cache.get(self._token_cache_key)
        if not entry:
            return None
        try:
            token = crypto.decrypt(entry["token"])
        except (crypto.SecretDecryptionError, KeyError, TypeError):
            return None  # encrypted with a key that has since been removed: mint a new one
        return token, entry["expires_at"], entry["refresh_at"]

    def _access_token(self, *, stale: str | None = None) -> str:
        now = time.time()
        if self._token and self._token != stale and now < self._token_refresh_at:
            return self._token
        cached = self._cached_token()
        if cached and cached[0] != stale and now < cached[2]:
            self._token, self._token_expires_at, self._token_refresh_at = cached
            return self._token
        return self._mint_token()

    def _mint_token(self) -> str:
        data = {"grant_type": "client_credentials"}
        if self.sub:
            data["sub"] = str(self.sub)
        try:
            response = self._send(
                "POST",
                self.credentials.token_url,
                data=data,
                auth=(self.credentials.client_id, self.credentials.client_secret),
            )
        except requests.RequestException as exc:
            self._raise_if_past_deadline(exc)
            host = urlsplit(self.credentials.token_url).netloc
            logger.warning("Greenhouse token request failed: %s", type(exc).__name__)
            if isinstance(exc, requests.Timeout):
                raise HarvestUnavailable(
                    f"The Greenhouse token endpoint at {host} did not answer in time."
                ) from exc
            raise HarvestUnavailable(
                f"Could not connect to the Greenhouse token endpoint at {host}."
            ) from exc
        payload = json_or_none(response)
        logger.info("Greenhouse token request for sub=%s: %s", self.sub, response.status_code)
        if response.status_code in (400, 401, 403):
            messages = self._messages(response)
            error = payload.get("error") if isinstance(payload, dict) else None
            detail = f" ({clip_text('; '.join(messages))})" if messages else ""
            if response.status_code == 401 or error == "invalid_client":
                message = "Greenhouse rejected the client ID and secret."
            elif self.sub and (error == "invalid_grant" or re.search(r"\bsub\b", detail)):
                message = f"Greenhouse did not accept user {self.sub} as the acting user{detail}."
            else:
                message = f"Greenhouse refused to issue a token{detail}."
            raise HarvestAuthenticationError(message, status=response.status_code, errors=messages)
        if response.status_code == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time()) or 60
            raise HarvestRateLimited(
                "Too many token requests to Greenhouse.", retry_after=retry_after
            )
        if response.status_code >= 500:
            raise HarvestServerError(
                f"The Greenhouse token endpoint failed ({response.status_code}).",
                status=response.status_code,
            )
        if (
            response.status_code != 200
            or not isinstance(payload, dict)
            or not payload.get("access_token")
        ):
            self._log_unexpected(response)
            raise HarvestError(
                f"Greenhouse's token endpoint gave an unexpected answer ({response.status_code}).",
                status=response.status_code,
            )
        lifetime = self._token_lifetime(payload)
        now = time.time()
        token = str(payload["access_token"])
        # Refresh early: a minute before expiry, or a quarter of the lifetime for short tokens.
        refresh_at = now + lifetime - min(60.0, lifetime / 4)
        self._token, self._token_expires_at, self._token_refresh_at = (
            token,
            now + lifetime,
            refresh_at,
        )
        cache.set(
            self._token_cache_key,
            {
                "token": crypto.encrypt(token),
                "expires_at": now + lifetime,
                "refresh_at": refresh_at,
            },
            timeout=max(1, int(refresh_at - now)),
        )
        return token

    @staticmethod
    def _token_lifetime(payload: dict[str, Any]) -> float:
        """Seconds the token lives: `expires_in` (int), `expires` (string) or `expires_at`."""
        for name in ("expires_in", "expires"):
            try:
                return max(1.0, float(payload[name]))
            except (KeyError, TypeError, ValueError):
                pass
        if "expires_at" in payload:
            try:
                return max(1.0, float(payload["expires_at"]) - time.time())
            except (TypeError, ValueError):
                from django.utils.dateparse import parse_datetime

                when = parse_datetime(str(payload["expires_at"]))
                if when:
                    return max(1.0, when.timestamp() - time.time())
        return 3600.0  # the documented lifetime

    def token_status(self) -> TokenStatus:
        cached = self._cached_token()
        if not cached:
            return TokenStatus(cached=False)
        return TokenStatus(cached=True, expires_in=max(0.0, cached[1] - time.time()))

    def forget_token(self) -> None:
        cache.delete(self._token_cache_key)
        self._token, self._token_refresh_at = None, 0.0

    # --- Requests ---

    def _url(self, path: str) -> str:
        return self.credentials.api_base_url.rstrip("/") + path

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """The one place a request leaves: allowed hosts only, no redirects, bounded time."""
        check_url_allowed(url)
        response = self.session.request(
            method, url, allow_redirects=False, timeout=self._timeout(), **kwargs
        )
        if self.deadline is not None and self.deadline.expired:
            # The deadline may have cut the answer short, and a cut in the headers or in a body
            # without a length reads as a complete answer: trust none that ends after it.
            response.close()
            raise _CutByDeadline()
        return response

    def _timeout(self) -> tuple[float, float]:
        if self.deadline is None:
            return self.timeout
        left = self.deadline.remaining()
        if left <= 0:
            raise self._deadline_error()
        return (min(self.timeout[0], left), min(self.timeout[1], left))

    def _deadline_error(self) -> "HarvestDeadlineExceeded":
        seconds = self.deadline.seconds if self.deadline is not None else 0.0
        return HarvestDeadlineExceeded(f"Greenhouse did not answer within {seconds:g} s.")

    def _raise_if_past_deadline(self, exc: Exception) -> None:
        if self.deadline is not None and self.deadline.expired:
            raise self._deadline_error() from exc

    def _wait(self, seconds: float) -> None:
        if self.deadline is not None and seconds >= self.deadline.remaining():
            raise self._deadline_error()
        time.sleep(seconds)

    def _messages(self, response: requests.Response) -> list[str]:
        messages = greenhouse_messages(
            response, hide=(self.credentials.client_secret, self._token or "")
        )
        if not messages:
            self._log_unexpected(response)
        return messages

    def _log_unexpected(self, response: requests.Response) -> None:
        """The detail of an answer that is not Greenhouse's documented shape, for the server
        log only (never with the secret or a token)."""
        excerpt = response.text[:300] if response.content else ""
        for secret in (self.credentials.client_secret, self._token or ""):
            if secret:
                excerpt = excerpt.replace(secret, "[hidden]")
        logger.warning(
            "Greenhouse %s %s answered %s (%s) without a documented error body: %r",
            response.request.method if response.request else "?",
            urlsplit(response.url or "").path,
            response.status_code,
            response.headers.get("Content-Type", "no content type"),
            excerpt,
        )

    # --- A batch's rate slots ---

    def reserve(self, n: int) -> None:
        """The next `n` requests are a batch (a team's notes): their rate slots are reserved
        together and their answers told to the budget together, one Redis round trip per
        batch instead of two per request (RateBudget.exchange). A reserved slot not sent within
        the budget's `reserve_hold` is given back and another reserved. Call `release()` when
        the batch ends, however it ends."""
        self._wanted = max(0, n)

    def release(self) -> None:
        """The batch is over: the answers still untold are told, the slots not used given
        back. Should that fail (Redis down), they count as still on their way until the
        budget forgets them, and the slots lapse with their window: never more than allowed."""
        answers, returned = self._answers, self._reserved
        self._wanted, self._answers, self._reserved = 0, [], []
        if answers or returned:
            try:
                self.budget.exchange(answers=answers, returned=returned)
            except Exception:
                logger.warning("Could not settle a batch's rate slots", exc_info=True)

    def _reserved_grant(self) -> Grant:
        now = self.budget.clock()
        stale = [g for g in self._reserved if g.use_by is not None and g.use_by < now]
        fresh = [g for g in self._reserved if g not in stale]
        if not fresh:
            answers, self._answers = self._answers, []
            try:
                fresh, retry_after = self.budget.exchange(
                    self._wanted, answers=answers, returned=stale
                )
            except BaseException:
                self._answers = answers + self._answers  # told in the next round trip
                raise
            stale = []
            if not fresh:
                self._reserved = []
                raise RateBudgetExceeded(retry_after if retry_after is not None else 0.0)
        grant, self._reserved = fresh[0], [*stale, *fresh[1:]]
        self._wanted -= 1
        return replace(grant, sent_at=self.budget.clock())

    def _recorded(self, grant: Grant, response: requests.Response | None) -> None:
        """Tells the budget how a request went: at once (with any answers untold), or, for a
        batch's plain answer, with the batch's next round trip. A probe's answer is told at
        once (it opens the window for every process), and so is a 429 (the hold follows)."""
        headers = response.headers if response is not None else None
        if grant.use_by is None:
            self.budget.record(grant, headers)
            return
        self._answers.append(Answer(grant=grant, headers=headers, at=self.budget.clock()))
        if grant.probe or response is None or response.status_code == 429:
            answers, self._answers = self._answers, []
            try:
                self.budget.exchange(answers=answers)
            except BaseException:
                self._answers = answers + self._answers  # told in the next round trip
                raise

    def _grant(self, max_wait: float) -> Grant:
        """A slot of the rate budget. A client built with `max_rate_wait=0` never sleeps for
        one: RateBudgetExceeded says when the next slot comes (the sync defers its records)."""
        if self._wanted > 0:
            return self._reserved_grant()
        if self.max_rate_wait <= 0:
            grant = self.budget.try_acquire()
            if not isinstance(grant, Grant):
                raise RateBudgetExceeded(grant)
            return grant
        return self.budget.acquire(max_wait=max_wait)

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        resource: tuple[str, int] | None = None,
        guard: "Callable[[], AbstractContextManager[object]] | None" = None,
    ) -> requests.Response:
        """`resource`: (kind, id) of the one resource the call is about; Greenhouse's 4xx is
        then about it, not about the connection. `guard`: entered after every wait (rate
        budget, token refresh, 429 hold) right before each send, and left after the answer; it
        may raise to stop the request (the caller's last word on whether to send at all)."""
        write = method != "GET"
        path = urlsplit(url).path
        deadline = time.monotonic() + self.max_rate_wait
        read_retries = self.read_retries
        refreshed = False
        token = self._access_token()
        while True:
            max_wait = max(0.0, deadline - time.monotonic())
            if self.deadline is not None:
                max_wait = min(max_wait, self.deadline.remaining())
            try:
                grant = self._grant(max_wait)
            except RateBudgetExceeded as exc:
                if self.deadline is not None and self.deadline.remaining() <= exc.retry_after:
                    raise self._deadline_error() from None
                raise HarvestRateLimited(
                    f"Greenhouse's rate limit is used up; try again in {exc.retry_after:.0f} s.",
                    retry_after=exc.retry_after,
                    status=None,
                ) from None
            started = time.monotonic()
            try:
                with guard() if guard is not None else nullcontext():
                    response = self._send(
                        method,
                        url,
                        params=params,
                        json=json,
                        headers={"Authorization": f"Bearer {token}"},
                    )
            except HarvestError:
                self._recorded(grant, None)
                raise
            except requests.RequestException as exc:
                self._recorded(grant, None)
                not_sent = _was_not_sent(exc)
                what = "timed out" if isinstance(exc, requests.Timeout) else "was cut off"
                logger.warning("Greenhouse %s %s %s", method, path, what)
                if write and not not_sent:
                    raise HarvestAmbiguousWrite(
                        f"The write to Greenhouse {what} after it was sent; it may have been saved."
                    ) from exc
                self._raise_if_past_deadline(exc)
                if not write and read_retries > 0:
                    read_retries -= 1
                    self._wait(self.retry_backoff)
                    continue
                if not_sent:
                    raise HarvestUnavailable(
                        f"Could not connect to Greenhouse at {self.credentials.host}."
                    ) from exc
                raise HarvestUnavailable(f"The request to Greenhouse {what}.") from exc
            except BaseException:
                self._recorded(grant, None)  # the guard stopped it: nothing was sent
                raise

            self._recorded(grant, response)
            status = response.status_code
            logger.log(
                logging.DEBUG if status < 400 else logging.WARNING,
                "Greenhouse %s %s: %s in %.0f ms",
                method,
                path,
                status,
                (time.monotonic() - started) * 1000,
            )
            if status < 300:
                return response
            if status < 400:
                # Redirects are not followed: the bearer token goes to configured hosts only.
                logger.warning(
                    "Greenhouse %s %s answered %s (a redirect, not followed) towards %r",
                    method,
                    path,
                    status,
                    urlsplit(response.headers.get("Location", "")).netloc,
                )
                raise HarvestError(
                    f"Greenhouse answered with a redirect ({status}), which is not followed.",
                    status=status,
                )
            if status == 401 and not refreshed:
                refreshed = True
                token = self._access_token(stale=token)
                continue
            if status == 429:
                # Until the window has surely ended (Retry-After and Reset may be rounded down).
                retry_after = self.budget.refused(response.headers)
                in_time = self.deadline is None or retry_after < self.deadline.remaining()
                if time.monotonic() + retry_after <= deadline and in_time:
                    continue  # the acquire above waits out the hold
                raise HarvestRateLimited(
                    f"Greenhouse's rate limit was reached; try again in {retry_after:.0f} s.",
                    retry_after=retry_after,
                )
            if status >= 500 and not write and read_retries > 0:
                read_retries -= 1
                self._wait(self.retry_backoff)
                continue
            raise self._error_for(response, write=write, resource=resource)

    def _error_for(
        self,
        response: requests.Response,
        *,
        write: bool,
        resource: tuple[str, int] | None = None,
    ) -> HarvestError:
        status = response.status_code
        messages = self._messages(response)
        # The message ends the sentence: Greenhouse's own full stop is dropped, not doubled.
        detail = f": {clip_text('; '.join(messages)).rstrip('.')}" if messages else ""
        about = f"{resource[0]} {resource[1]}" if resource else None
        if status == 404 and resource is not None:
            # Harvest routes first, so a documented path that answers 404 for a call about one
            # resource means that resource is gone (merged away or deleted), not the endpoint.
            return HarvestResourceNotFound(
                f"Greenhouse has no {about} (it was merged into another or deleted).",
                kind=resource[0],
                resource_id=resource[1],
            )
        if status >= 500:
            if write:
                return HarvestAmbiguousWrite(
                    f"Greenhouse failed ({status}) while handling a write; it may have been saved.",
                    status=status,
                )
            return HarvestServerError(f"Greenhouse failed ({status}).", status=status)
        if status == 401:
            return HarvestAuthenticationError(
                f"Greenhouse did not accept the access token{detail}.",
                status=status,
                errors=messages,
            )
        if status == 403:
            return HarvestPermissionError(
                f"Greenhouse refused access{detail}.",
                status=status,
                errors=messages,
                resource=about,
            )
        if status == 404:
            return HarvestNotFound(
                f"Greenhouse has no such endpoint ({urlsplit(response.url).path}); "
                "check the API base URL.",
                status=status,
                errors=messages,
            )
        if status in (400, 422):
            return HarvestValidationError(
                f"Greenhouse rejected the request{detail}.",
                status=status,
                errors=messages,
                resource=about,
            )
        if status == 409:
            return HarvestError(
                f"Greenhouse refused the request as a conflict{detail}.",
                status=status,
                errors=messages,
                resource=about,
            )
        return HarvestError(
            f"Greenhouse answered {status}{detail}.", status=status, errors=messages, resource=about
        )

    def _get_all(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every page of a list endpoint: filters on the first request, then only the cursor URL
        from the Link header (Harvest rejects a cursor with other query parameters)."""
        results: list[dict[str, Any]] = []
        url: str | None = self._url(path)
        query: dict[str, Any] | None = params
        base = urlsplit(self.credentials.api_base_url)
        while url:
            response = self._request("GET", url, params=query)
            page = json_or_none(response)
            if not isinstance(page, list):
                raise HarvestError(f"Greenhouse sent an unexpected answer for {path}.")
            results.extend(item for item in page if isinstance(item, dict))
            url, query = response.links.get("next", {}).get("url"), None
            if url and urlsplit(url)[:2] != base[:2]:
                # The bearer token only ever goes to the configured host.
                raise HarvestError("Greenhouse sent a pagination link to another host.")
        return results

    def list_page(
        self, path: str, *, params: dict[str, Any] | None = None, next_url: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a list endpoint and the URL of the next (None: the last page). The first
        page takes `params`; a later one only `next_url`, the cursor link as Harvest sent it
        (a cursor must be the only query parameter). One request of the rate budget; a caller
        that saves `next_url` can go on after a crash."""
        base = urlsplit(self.credentials.api_base_url)
        if next_url is not None:
            if urlsplit(next_url)[:2] != base[:2] or urlsplit(next_url).path != path:
                raise HarvestError("A saved pagination link points elsewhere.")
            response = self._request("GET", next_url)
        else:
            response = self._request("GET", self._url(path), params=params)
        page = json_or_none(response)
        if not isinstance(page, list):
            raise HarvestError(f"Greenhouse sent an unexpected answer for {path}.")
        following = response.links.get("next", {}).get("url")
        if following and urlsplit(following)[:2] != base[:2]:
            # The bearer token only ever goes to the configured host.
            raise HarvestError("Greenhouse sent a pagination link to another host.")
        return [item for item in page if isinstance(item, dict)], following or None

    # --- Candidates and users ---

    def candidates_by_email(self, email: str) -> list[dict[str, Any]]:
        """Candidates with this email address (exact, case-insensitive): 0, 1 or several."""
        wanted = email.strip().lower()
        found = self._get_all("/v3/candidates", {"email": wanted})
        # Harvest matches exactly; checking again guards against a looser match upstream.
        return [
            candidate
            for candidate in found
            if "id" in candidate
            and any(
                str(address.get("value", "")).strip().lower() == wanted
                for address in candidate.get("email_addresses") or []
            )
        ]

    def candidates_by_ids(self, ids: Iterable[int]) -> list[dict[str, Any]]:
        unique = list(dict.fromkeys(int(i) for i in ids))
        found: list[dict[str, Any]] = []
        for start in range(0, len(unique), MAX_IDS_PER_REQUEST):
            chunk = unique[start : start + MAX_IDS_PER_REQUEST]
            found += self._get_all(
                "/v3/candidates", {"ids": ",".join(map(str, chunk)), "per_page": len(chunk)}
            )
        return [candidate for candidate in found if "id" in candidate]

    def candidate_create(
        self,
        *,
        first_name: str,
        last_name: str,
        email_addresses: list[dict[str, str]],
        phone_numbers: list[dict[str, str]] | None = None,
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        """POST /v3/candidates (scope harvest:candidates:create): a candidate with no
        application, a prospect (reference 3.6). Emails and phones are typed `{value, type}`.
        Returns the candidate: the answer was seen both as the candidate and as `{candidate,
        application}`, and the record can lag behind the create, so only its id is relied on.
        An answer with no id raises HarvestAmbiguousWrite (the candidate may exist)."""
        payload: dict[str, Any] = {
            "first_name": first_name,
            "last_name": last_name,
            "email_addresses": [dict(item) for item in email_addresses],
            "phone_numbers": [dict(item) for item in phone_numbers or []],
        }
        if tags:
            payload["tags"] = list(tags)
        response = self._request("POST", self._url("/v3/candidates"), json=payload)
        return created_candidate(json_or_none(response), status=response.status_code)

    def users_by_primary_email(self, email: str) -> list[dict[str, Any]]:
        wanted = email.strip().lower()
        found = self._get_all("/v3/users", {"primary_email": wanted})
        return [u for u in found if str(u.get("primary_email") or "").strip().lower() == wanted]

    def users_first_page(self, *, per_page: int = 1) -> object:
        """One cheap authorized call (a connection test); the answer's JSON, unchecked."""
        return json_or_none(
            self._request("GET", self._url("/v3/users"), params={"per_page": per_page})
        )

    # --- Notes ---

    def note_create(
        self,
        *,
        candidate_id: int,
        body: str,
        note_type: str = "NOTE",
        visibility: str = "public",
        user_id: int | None = None,
        subject: str | None = None,
        email_from: list[str] | None = None,
        email_to: list[str] | None = None,
        email_cc: list[str] | None = None,
        application_id: int | None = None,
        guard: "Callable[[], AbstractContextManager[object]] | None" = None,
    ) -> dict[str, Any]:
        """POST /v3/notes. NOTE for SMS, EMAIL for email (with from/to/cc). Returns the note.
        A 404 is about the candidate (HarvestResourceNotFound); `guard`: see `_request`."""
        note_type = note_type.upper()
        if note_type not in NOTE_TYPES:
            raise ValueError(f"note_type must be one of {', '.join(NOTE_TYPES)}.")
        visibility = READ_TO_WRITE_VISIBILITY.get(visibility, visibility)
        if visibility not in VISIBILITIES:
            raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}.")
        payload: dict[str, Any] = {
            "candidate_id": candidate_id,
            "body": body,
            "note_type": note_type,
            "visibility": visibility,
        }
        if note_type == "EMAIL":
            if not email_from or not email_to:
                raise ValueError("An EMAIL note needs email_from and email_to.")
            payload.update(
                subject=subject or "",
                email_from=list(email_from),
                email_to=list(email_to),
                email_cc=list(email_cc or []),  # Harvest wants it present, even empty
            )
        else:
            if email_from or email_to or email_cc:
                raise ValueError("email_from, email_to and email_cc are only for EMAIL notes.")
            if subject:
                payload["subject"] = subject
        if user_id is not None:
            payload["user_id"] = user_id
        if application_id is not None:
            payload["application_id"] = application_id
        response = self._request(
            "POST",
            self._url("/v3/notes"),
            json=payload,
            resource=("candidate", candidate_id),
            guard=guard,
        )
        note = json_or_none(response)
        if not isinstance(note, dict) or "id" not in note:
            # Accepted, so the note may well exist: the caller reads the notes back.
            raise HarvestAmbiguousWrite(
                "Greenhouse accepted the note but its answer has no note id.",
                status=response.status_code,
            )
        return note

    def notes_for_candidate(
        self, candidate_id: int, *, per_page: int = MAX_PER_PAGE
    ) -> list[dict[str, Any]]:
        """All notes of a candidate (newest first), following the cursor pages: the largest pages
        by default, since every page is a request of the rate budget (a read-back of a candidate
        with 450 notes is one request, not five)."""
        per_page = max(1, min(per_page, MAX_PER_PAGE))
        return self._get_all("/v3/notes", {"candidate_ids": candidate_id, "per_page": per_page})
