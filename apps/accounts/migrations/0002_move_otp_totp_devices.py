"""Carry over the devices of django-otp's otp_totp app (no longer installed), encrypting each
key, then delete those rows: their keys were plaintext hex. Staff keep their authenticator app;
their sessions are asked for a code again (the session names the old device model).

The table is read with plain SQL because otp_totp's models are not loaded any more; on a
database that never had it, there is nothing to do. Reversing leaves the old rows deleted (a
plaintext key is not written back).
"""

from datetime import UTC, datetime

from django.db import migrations
from django.utils.dateparse import parse_datetime

OLD_TABLE = "otp_totp_totpdevice"
COPIED = (
    "name",
    "confirmed",
    "user_id",
    "step",
    "t0",
    "digits",
    "tolerance",
    "drift",
    "last_t",
    "throttling_failure_timestamp",
    "throttling_failure_count",
    "created_at",
    "last_used_at",
)


DATETIMES = {"throttling_failure_timestamp", "created_at", "last_used_at"}


def _aware(value):
    """A datetime column read with plain SQL: SQLite gives naive UTC text, PostgreSQL aware."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def move_devices(apps, schema_editor):
    from apps.accounts.models import encrypted_key

    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if OLD_TABLE not in connection.introspection.table_names(cursor):
            return
        present = {
            column.name for column in connection.introspection.get_table_description(cursor, OLD_TABLE)
        }
        columns = [name for name in COPIED if name in present]
        quoted = ", ".join(schema_editor.quote_name(name) for name in ["key", *columns])
        cursor.execute(f"SELECT {quoted} FROM {schema_editor.quote_name(OLD_TABLE)}")  # noqa: S608
        rows = cursor.fetchall()
    StaffTotpDevice = apps.get_model("accounts", "StaffTotpDevice")
    for key, *values in rows:
        fields = {
            name: _aware(value) if name in DATETIMES else value
            for name, value in zip(columns, values, strict=True)
        }
        device = StaffTotpDevice.objects.create(key_encrypted=encrypted_key(key), **fields)
        if fields.get("created_at"):  # auto_now_add set it to now; keep the original
            StaffTotpDevice.objects.filter(pk=device.pk).update(created_at=fields["created_at"])
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {schema_editor.quote_name(OLD_TABLE)}")  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_staff_totp_device")]

    operations = [migrations.RunPython(move_devices, migrations.RunPython.noop)]
