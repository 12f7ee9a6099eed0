"""`make run`: check the ports, migrate, load the demo, then supervise every process of
Procfile.dev until any way of stopping stops them all (apps/demo/stack.py says why and how)."""

import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connections

from apps.demo.data import DEMO_PASSWORD
from apps.demo.stack import Stack, busy_port_message, free_port_pair, port_is_free, procfile_read


class Command(BaseCommand):
    help = (
        "Run the local stack (web, send and sync workers, beat, Harvest sandbox) on PORT and "
        "SANDBOX_PORT; Ctrl-C, SIGTERM, SIGHUP or closing the terminal stops all of it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--procfile", default=str(settings.BASE_DIR / "Procfile.dev"))

    def handle(self, *args, procfile, **options):
        web, sandbox = settings.WEB_PORT, settings.SANDBOX_PORT
        for port, variable in ((web, "PORT"), (sandbox, "SANDBOX_PORT")):
            if not port_is_free(port):
                free_web, free_sandbox = free_port_pair(max(web, sandbox) + 1)
                suggestion = f"make run PORT={free_web} SANDBOX_PORT={free_sandbox}"
                sys.stderr.write(busy_port_message(port, variable, suggestion) + "\n")
                sys.exit(1)

        call_command("migrate", interactive=False, verbosity=0)
        call_command("seed_demo")
        connections.close_all()  # the children open their own

        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"  Outreach is starting on http://127.0.0.1:{web}/",
                    f"  Harvest sandbox:  http://127.0.0.1:{sandbox}/",
                    f"  Team admin:    ada / {DEMO_PASSWORD}",
                    f"  Recruiter:     rob / {DEMO_PASSWORD}",
                    f"  Support staff: support / {DEMO_PASSWORD}   (Django admin at /admin/)",
                    "  Ctrl-C stops everything.",
                    "",
                ]
            )
        )
        self.stdout.flush()
        env = {
            **os.environ,
            "PORT": str(web),
            "SANDBOX_PORT": str(sandbox),
            "VAR_DIR": str(settings.VAR_DIR),
            "CELERY_QUEUE": settings.CELERY_QUEUE_PREFIX,
            "DEV_TOOLS": "true",
            "DEBUG": "true" if settings.DEBUG else "false",
            # The commands of the Procfile (python, celery) from this interpreter's environment.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
        }
        stack = Stack(procfile_read(Path(procfile)), env=env, cwd=settings.BASE_DIR)
        sys.exit(stack.run())
