"""Sync records and bot emails on the shared outbox base (apps/core/outbox.py): `queued_at` holds
the lease of the queued task; bot emails gain `next_attempt_at` (they now back off like the
rest). Existing columns keep their data."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("greenhouse", "0004_greenhouse_host_profiles"),
    ]

    operations = [
        migrations.AddField(
            model_name="syncrecord",
            name="queued_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="botnotice",
            name="next_attempt_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="botnotice",
            name="queued_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
