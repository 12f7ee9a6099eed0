import time

from django.core.management.base import BaseCommand, CommandError

from apps.core.services import worker_ping_request


class Command(BaseCommand):
    help = "Send a ping through the broker and wait for a worker to answer it."

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=15.0, help="seconds to wait")

    def handle(self, *args, wait, **options):
        ping = worker_ping_request(requested_by="command")
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            ping.refresh_from_db()
            if ping.answered_at:
                self.stdout.write(f"Worker {ping.answered_by} answered in {ping.latency}.")
                return
            time.sleep(0.2)
        raise CommandError(f"No worker answered within {wait:g} s.")
