import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.harvest_sandbox import Config, SandboxServer, SandboxState, StateFileError
from apps.harvest_sandbox.state import DEMO_SERVICE_USER_ID


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = (
        "Run the local Harvest v3 sandbox: OAuth token endpoint, candidates, users, notes, rate "
        "limits, fault injection, Maildrop, and an HTML page of every candidate's activity feed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--port",
            type=int,
            default=settings.SANDBOX_PORT,
            help="default: settings.SANDBOX_PORT (PORT + 1); 0 picks a free port",
        )
        parser.add_argument("--rate-limit", type=int, default=75, help="requests per window")
        parser.add_argument("--rate-window", type=int, default=30, help="window length, seconds")
        parser.add_argument("--token-lifetime", type=int, default=3600, help="seconds")
        parser.add_argument("--retry-after-format", choices=("seconds", "epoch"), default="seconds")
        parser.add_argument(
            "--latency-ms", type=int, default=0, help="added to every /token and /v3 answer"
        )
        parser.add_argument(
            "--latency-jitter-ms", type=int, default=0, help="plus a random 0..N ms per answer"
        )
        parser.add_argument("--no-demo-data", action="store_true", help="start empty")
        parser.add_argument(
            "--state-file",
            default=None,
            help="where the account is kept across restarts (default: VAR_DIR/"
            "harvest-sandbox.json; '' keeps it in memory only)",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="start from the demo data, forgetting the saved state (note ids still never "
            "repeat); a running sandbox resets with the button on its page",
        )
        faults = parser.add_argument_group(
            "faults (also changeable at run time: POST /_sandbox/faults)"
        )
        faults.add_argument(
            "--error-rate", type=float, default=0.0, help="share of /v3 calls → 5xx"
        )
        faults.add_argument("--error-status", type=int, default=503)
        faults.add_argument("--slow", type=float, default=0.0, help="seconds before each answer")
        faults.add_argument("--down", action="store_true", help="drop every API connection")
        faults.add_argument(
            "--write-then-500",
            type=int,
            default=0,
            help="save the next N notes, answer 500 (-1: all)",
        )
        faults.add_argument(
            "--drop-after-write",
            type=int,
            default=0,
            help="save the next N notes, then drop the connection (-1: all)",
        )

    def handle(self, *args, **options):
        state_file = options["state_file"]
        if state_file is None:
            state_file = settings.VAR_DIR / "harvest-sandbox.json"
        try:
            state = self._state(options, state_file)
        except StateFileError as exc:
            raise CommandError(str(exc)) from exc
        try:
            self._serve(state, options)
        finally:
            state.close()  # a clean stop saves the last changes

    def _state(self, options, state_file) -> SandboxState:
        return SandboxState(
            client_id=settings.GREENHOUSE_SANDBOX_CLIENT_ID,
            client_secret=settings.GREENHOUSE_SANDBOX_CLIENT_SECRET,
            config=Config(
                rate_limit=options["rate_limit"],
                rate_window=options["rate_window"],
                token_lifetime=options["token_lifetime"],
                retry_after_format=options["retry_after_format"],
                latency_ms=options["latency_ms"],
                latency_jitter_ms=options["latency_jitter_ms"],
            ),
            faults={
                "error_rate": options["error_rate"],
                "error_status": options["error_status"],
                "slow_seconds": options["slow"],
                "down": options["down"],
                "write_then_500": options["write_then_500"],
                "drop_after_write": options["drop_after_write"],
            },
            demo_data=not options["no_demo_data"],
            state_file=state_file or None,
            fresh=options["reset"],
        )

    def _serve(self, state: SandboxState, options) -> None:
        server = SandboxServer(state, options["host"], options["port"])
        config = state.config
        admin = next((u for u in state.users.values() if u.site_admin and u.primary_email), None)
        lines = [
            "Harvest sandbox: a local imitation of Greenhouse Harvest v3",
            f"  Activity feeds: {server.url}/",
            f"  API base URL:   {server.url}",
            f"  Token URL:      {server.url}/token",
            # Demo values for a loopback-only fake; printing them is the point.
            f"  Client ID:      {settings.GREENHOUSE_SANDBOX_CLIENT_ID}",
            f"  Client secret:  {settings.GREENHOUSE_SANDBOX_CLIENT_SECRET}",
            f"  Acting user:    {admin.id} ({admin.primary_email}, Site Admin)"
            if admin
            else f"  Acting user:    none; tokens act as service user {DEMO_SERVICE_USER_ID}",
            f"  Rate limit:     {state.config.rate_limit} per {state.config.rate_window} s",
            f"  Latency:        {config.latency_ms} ms + 0..{config.latency_jitter_ms} ms",
            f"  State file:     {state.state_file or 'none (in memory only)'}",
        ]
        active = state.active_faults()
        if active:
            lines.append(f"  Faults:         {active}")
        self.stdout.write("\n".join(lines))
        self.stdout.flush()

        # honcho and the tests stop it with SIGTERM: shut down cleanly.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
