"""Message delivery on the shared outbox base (apps/core/outbox.py): `attempts` is renamed
`attempts` (same meaning, data kept) and `queued_at` holds the lease of the queued send task."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0004_unmatched_inbound_too_large"),
    ]

    operations = [
        migrations.RenameField(model_name="message", old_name="attempts", new_name="attempts"),
        migrations.AddField(
            model_name="message",
            name="queued_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
