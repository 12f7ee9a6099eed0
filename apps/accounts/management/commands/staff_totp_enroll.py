from base64 import b32encode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from apps.accounts.two_factor import TotpEnrolError, staff_totp_enroll


class Command(BaseCommand):
    help = (
        "Set up the second factor of a support staff member: prints, once, the otpauth:// URI "
        "(and key) to add to their authenticator app. Their first code in the admin confirms it."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Replace a confirmed authenticator app (a lost phone); the old one stops now.",
        )

    def handle(self, *args, username, replace, **options):
        user = get_user_model()._default_manager.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user is called {username!r}.")
        try:
            device = staff_totp_enroll(user=user, replace=replace)
        except TotpEnrolError as exc:
            raise CommandError(str(exc)) from exc
        key = b32encode(device.bin_key).decode()
        # For the person at this terminal only: written to stdout, never to a log.
        self.stdout.write(
            f"Add this to {username}'s authenticator app. It is shown only now: keep it out of "
            "chat, tickets and email.\n\n"
            f"    {device.config_url}\n\n"
            f"Or type the key by hand: {key} (time-based, 6 digits, every 30 seconds).\n\n"
            f"Then log in at {settings.PUBLIC_BASE_URL}{reverse('admin:index')} and enter the "
            "code the app shows: that confirms it."
        )
