from django.core.management.base import BaseCommand

from apps.core.crypto import generate_key


class Command(BaseCommand):
    help = (
        "Print a new key for FIELD_ENCRYPTION_KEYS. To rotate: put it first in the list, run "
        "rotate_encryption_keys, then remove the old keys."
    )

    def handle(self, *args, **options):
        self.stdout.write(generate_key())
