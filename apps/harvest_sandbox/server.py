"""The Harvest sandbox's HTTP side: a stdlib ThreadingHTTPServer in front of SandboxState.

Routes
  POST /token                      OAuth client credentials (Basic auth, grant_type, sub)
  GET  /v3/candidates|users|notes  bearer token, scopes, Site Admin rule, cursor pages
  POST /v3/notes                   Harvest v3 validation, 201 with the note
  POST /v3/candidates              Harvest v3 validation, 201 with the candidate
  GET  /                           HTML: every candidate's activity feed
  /_sandbox/...                    control for tests and people (never faulted, never limited):
      GET  state | notes.json | candidates.json | users.json | requests.json | windows.json
      POST config | faults (DELETE clears) | reset (JSON, or the page's form) | candidates
      POST users | credentials | credentials/revoke
      POST tokens/expire | ratelimit/exhaust | maildrop (message/rfc822)
      POST candidates ({emails, phones, age_seconds}, or a POST /v3/candidates body)
      POST candidates/merge {duplicate_candidate_id, primary_candidate_id} | candidates/delete
      POST candidates/edit {candidate_id, add_emails, remove_emails, first_name, last_name}
"""

import base64
import binascii
import json
import logging
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast
from urllib.parse import parse_qs, urlsplit

from .state import NOT_FOUND, SandboxState, UnknownResource

logger = logging.getLogger(__name__)

API_ROUTES = {
    ("GET", "/v3/candidates"): ("candidates", "harvest:candidates:list"),
    ("POST", "/v3/candidates"): ("candidates", "harvest:candidates:create"),
    ("GET", "/v3/users"): ("users", "harvest:users:list"),
    ("GET", "/v3/notes"): ("notes", "harvest:notes:list"),
    ("POST", "/v3/notes"): ("notes", "harvest:notes:create"),
}
API_PATHS = {path for _, path in API_ROUTES}


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's session expects
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart
    server_version = "HarvestSandbox/1.0"

    def log_message(self, format, *args):
        # The request line only: headers (Authorization) are never logged.
        logger.debug("%s %s", self.address_string(), format % args)

    def do_GET(self):
        self._dispatch()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_GET

    @property
    def state(self) -> SandboxState:
        return cast("SandboxServer", self.server).state

    # --- Plumbing ---

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, payload, headers=None, content_type="application/json"):
        if self._delayed:
            delay = self.state.config.latency()
            if delay > 0:
                time.sleep(delay)
        if content_type == "application/json":
            data = json.dumps(payload).encode()
            content_type = "application/json; charset=utf-8"
        else:
            data = payload.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _redirect(self, location: str):
        self.send_response(303)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _drop(self):
        """Close the connection without an answer."""
        self.close_connection = True

    def _base_url(self) -> str:
        host, port = cast(tuple[str, int], self.server.server_address)[:2]
        return f"http://{self.headers.get('Host') or f'{host}:{port}'}"

    def _dispatch(self):
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        body = self._read_body()
        self._delayed = False
        if path == "/" or path.startswith("/_sandbox"):
            return self._control(path, parse_qs(url.query), body)
        self._delayed = True  # every answer from here on comes after the configured latency
        if self.state.faults["down"]:
            return self._drop()
        if path == "/token":
            return self._token(url.query, body)
        if path.startswith("/v3/"):
            return self._api(path, url.query, body)
        return self._send(404, {"message": NOT_FOUND})

    def _slow(self):
        delay = self.state.faults["slow_seconds"]
        if delay > 0:
            time.sleep(delay)

    # --- OAuth ---

    def _token(self, query: str, body: bytes):
        self._slow()
        if self.command != "POST":
            return self._send(405, {"message": "Method Not Allowed"})
        basic = None
        authorization = self.headers.get("Authorization", "")
        if authorization.startswith("Basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode()
                client_id, _, client_secret = decoded.partition(":")
                basic = (client_id, client_secret)
            except (binascii.Error, UnicodeDecodeError):
                basic = None
        # The guide puts grant_type in the form body, the OpenAPI in the query: accept both.
        form = {k: v[-1] for k, v in parse_qs(query).items()}
        form.update({k: v[-1] for k, v in parse_qs(body.decode(errors="replace")).items()})
        status, payload, headers = self.state.issue_token(basic=basic, form=form)
        self.state.log_request(
            method="POST", path="/token", query="", status=status, client_id=basic and basic[0]
        )
        self._send(status, payload, headers)

    # --- Harvest v3 ---

    def _api(self, path: str, raw_query: str, body: bytes):
        state = self.state
        route = API_ROUTES.get((self.command, path))

        def answer(status, payload, headers=None, client_id=None, window=None):
            state.log_request(
                method=self.command,
                path=path,
                query=raw_query,
                status=status,
                client_id=client_id,
                window=window,
            )
            self._send(status, payload, headers)

        if route is None:
            # Harvest routes before it authenticates.
            if path in API_PATHS:
                return answer(405, {"message": "Method Not Allowed"})
            return answer(404, {"message": NOT_FOUND})
        resource, scope = route

        token, error = state.authenticate(self.headers.get("Authorization"))
        if error:
            return answer(*error)
        client_id = token.client_id
        allowed, rate_headers, window = state.rate_check(client_id)
        if not allowed:
            return answer(429, {"message": "Too Many Requests"}, rate_headers, client_id, window)
        self._slow()
        if state.fault_error():
            status = state.faults["error_status"]
            return answer(
                status, {"message": "Service Unavailable"}, rate_headers, client_id, window
            )
        error = state.authorize(token, scope=scope, list_endpoint=self.command == "GET")
        if error:
            status, payload, headers = error
            return answer(status, payload, {**rate_headers, **headers}, client_id, window)

        if self.command == "GET":
            status, payload, headers = state.list_resource(
                resource, parse_qs(raw_query, keep_blank_values=True), self._base_url()
            )
            return answer(status, payload, {**rate_headers, **headers}, client_id, window)

        try:
            data = json.loads(body or b"null")
        except ValueError:
            data = None
        if resource == "candidates":
            status, payload, headers = state.create_candidate(data)
            if status == 201 and state.take_fault("candidate_write_then_500"):
                status, payload = 500, {"message": "Internal Server Error"}
            return answer(status, payload, {**rate_headers, **headers}, client_id, window)
        status, payload, headers = state.create_note(token, data)
        if status == 201:
            if state.take_fault("drop_after_write"):
                state.log_request(
                    method="POST", path=path, query="", status=0, client_id=client_id, window=window
                )
                return self._drop()
            if state.take_fault("write_then_500"):
                status, payload = 500, {"message": "Internal Server Error"}
        return answer(status, payload, {**rate_headers, **headers}, client_id, window)

    # --- Control and the HTML page ---

    def _control(self, path: str, query: dict, body: bytes):
        state, method = self.state, self.command
        form = self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded")
        try:
            raw_json = body and path != "/_sandbox/maildrop" and not form
            data = json.loads(body) if raw_json else {}
        except ValueError:
            return self._send(400, {"message": "The body must be JSON."})
        try:
            if method == "GET":
                views = {
                    "/": None,
                    "/_sandbox": None,
                    "/_sandbox/state": state.summary,
                    "/_sandbox/faults": lambda: dict(state.faults),
                    "/_sandbox/notes.json": state.notes_json,
                    "/_sandbox/candidates.json": lambda: [
                        c.as_json() for c in list(state.candidates.values())
                    ],
                    "/_sandbox/users.json": lambda: [
                        u.as_json() for u in list(state.users.values())
                    ],
                    "/_sandbox/requests.json": lambda: list(state.requests),
                    "/_sandbox/windows.json": state.windows_json,
                }
                if path in views:
                    view = views[path]
                    if view is None:
                        return self._send(
                            200, self._html(), content_type="text/html; charset=utf-8"
                        )
                    with state.lock:
                        payload = view()
                    return self._send(200, payload)
            elif method == "POST":
                if path == "/_sandbox/config":
                    return self._send(200, state.set_config(**data))
                if path == "/_sandbox/faults":
                    return self._send(200, state.set_faults(**data))
                if path == "/_sandbox/reset":
                    form = self.headers.get("Content-Type", "").startswith(
                        "application/x-www-form-urlencoded"
                    )
                    origin = self.headers.get("Origin")
                    if form and origin and origin != self._base_url():
                        # Another site's page may not reset a developer's sandbox.
                        return self._send(403, {"message": "Cross-origin form refused."})
                    state.reset()
                    if form:  # the button on the page: back to the page
                        return self._redirect("/")
                    return self._send(200, state.summary())
                if path == "/_sandbox/candidates" and (
                    "emails" not in data and "phones" not in data
                ):
                    # A Harvest v3 body: validated as POST /v3/candidates, with no token.
                    return self._send(*state.create_candidate(data))
                if path == "/_sandbox/candidates":
                    # `age_seconds`: a candidate the account has had that long (created and
                    # last updated then), as most of a real account's are.
                    at = time.time() - float(data.get("age_seconds", 0))
                    candidate = state.add_candidate(
                        first_name=data.get("first_name"),
                        last_name=data.get("last_name"),
                        emails=data.get("emails", []),
                        phones=data.get("phones", []),
                        created_at=at,
                        updated_at=at,
                        last_activity_at=at,
                    )
                    return self._send(201, candidate.as_json())
                if path == "/_sandbox/candidates/merge":
                    primary = state.merge_candidates(
                        duplicate_id=data["duplicate_candidate_id"],
                        primary_id=data["primary_candidate_id"],
                    )
                    return self._send(200, primary.as_json())
                if path == "/_sandbox/candidates/edit":
                    candidate = state.edit_candidate(
                        candidate_id=data["candidate_id"],
                        add_emails=data.get("add_emails", []),
                        remove_emails=data.get("remove_emails", []),
                        first_name=data.get("first_name"),
                        last_name=data.get("last_name"),
                    )
                    return self._send(200, candidate.as_json())
                if path == "/_sandbox/candidates/delete":
                    state.delete_candidate(candidate_id=data["candidate_id"])
                    return self._send(200, {"deleted": data["candidate_id"]})
                if path == "/_sandbox/users":
                    user = state.add_user(
                        first_name=data.get("first_name", ""),
                        last_name=data.get("last_name", ""),
                        primary_email=data.get("primary_email"),
                        emails=data.get("emails"),
                        site_admin=bool(data.get("site_admin", False)),
                        deactivated=bool(data.get("deactivated", False)),
                    )
                    return self._send(201, user.as_json())
                if path == "/_sandbox/credentials":
                    credential = state.add_credential(
                        client_id=data["client_id"],
                        client_secret=data["client_secret"],
                        scopes=data.get("scopes"),
                        service_user_id=data.get("service_user_id"),
                    )
                    return self._send(
                        201,
                        {"client_id": credential.client_id, "scopes": sorted(credential.scopes)},
                    )
                if path == "/_sandbox/credentials/revoke":
                    return self._send(200, {"revoked": state.revoke_credential(data["client_id"])})
                if path == "/_sandbox/tokens/expire":
                    return self._send(200, {"expired": state.expire_tokens()})
                if path == "/_sandbox/ratelimit/exhaust":
                    state.exhaust_window(data["client_id"])
                    return self._send(200, {"ok": True})
                if path == "/_sandbox/maildrop":
                    status, payload, headers = state.maildrop(body)
                    return self._send(status, payload, headers)
            elif method == "DELETE" and path == "/_sandbox/faults":
                return self._send(200, state.clear_faults())
        except UnknownResource as exc:
            return self._send(404, {"message": f"Not found: {exc}"})
        except (KeyError, TypeError, ValueError) as exc:
            return self._send(400, {"message": f"Bad control request: {exc}"})
        return self._send(404, {"message": NOT_FOUND})

    def _html(self) -> str:
        from django.template.loader import render_to_string

        context = self.state.feed()
        context["base_url"] = self._base_url()
        return render_to_string("greenhouse/sandbox/index.html", context)


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    thread: threading.Thread  # set by start_in_thread

    def __init__(self, state: SandboxState, host: str = "127.0.0.1", port: int = 8001):
        self.state = state
        super().__init__((host, port), SandboxHandler)

    @property
    def url(self) -> str:
        host, port = cast(tuple[str, int], self.server_address)[:2]
        return f"http://{host}:{port}"

    def handle_error(self, request, client_address):
        # A client that gave up (its timeout during a slow answer) is expected here.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


def start_in_thread(state: SandboxState, host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
    """Serve in a daemon thread (tests); port 0 picks a free port. Stop with `stop(server)`."""
    server = SandboxServer(state, host, port)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        name="harvest-sandbox",
        daemon=True,
    )
    thread.start()
    server.thread = thread
    return server


def stop(server: SandboxServer) -> None:
    server.shutdown()
    server.server_close()
