from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import ngettext

from apps.accounts.two_factor import staff_totp_keys_rotate
from apps.greenhouse.connection import greenhouse_secrets_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (Greenhouse client secrets, support staff's TOTP keys) "
        "with the first key of FIELD_ENCRYPTION_KEYS. The other keys can be removed once this "
        "succeeds."
    )

    def handle(self, *args, **options):
        result = greenhouse_secrets_rotate()
        secrets = ngettext("client secret", "client secrets", result.rotated)
        self.stdout.write(f"Re-encrypted {result.rotated} Greenhouse {secrets}.")
        totp = staff_totp_keys_rotate()
        keys = ngettext("key", "keys", totp.rotated)
        self.stdout.write(f"Re-encrypted {totp.rotated} staff authenticator app {keys}.")
        problems = []
        if result.failed:
            problems.append(
                "No key in FIELD_ENCRYPTION_KEYS decrypts the client secret of: "
                + ", ".join(result.failed)
                + " (enter those secrets again)."
            )
        if totp.failed:
            problems.append(
                "No key in FIELD_ENCRYPTION_KEYS decrypts the authenticator app key of: "
                + ", ".join(totp.failed)
                + " (enrol them again with `staff_totp_enroll <username> --replace`)."
            )
        if problems:
            raise CommandError(" ".join(problems) + " Keep the old keys until these are fixed.")
        self.stdout.write(self.style.SUCCESS("Old keys are no longer needed for stored secrets."))
