from django.core.management.base import BaseCommand, CommandError

from apps.greenhouse.connection import greenhouse_secrets_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of FIELD_ENCRYPTION_KEYS. The other "
        "keys can be removed once this succeeds."
    )

    def handle(self, *args, **options):
        result = greenhouse_secrets_rotate()
        self.stdout.write(f"Re-encrypted {result.rotated} Greenhouse client secret(s).")
        if result.failed:
            raise CommandError(
                "No key in FIELD_ENCRYPTION_KEYS decrypts the client secret of: "
                + ", ".join(result.failed)
                + ". Keep the old keys until these are fixed (or enter those secrets again)."
            )
        self.stdout.write(self.style.SUCCESS("Old keys are no longer needed for stored secrets."))
