"""The inbox of inbound webhooks (InboundEvent, apps/messaging/inbox.py): Twilio and Anymail
requests are stored as they came, then processed by a task."""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0005_outbox_lease'),
    ]

    operations = [
        migrations.CreateModel(
            name='InboundEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('claimed_at', models.DateTimeField(blank=True, null=True)),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('queued_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('provider', models.CharField(help_text="twilio, or the ESP's name.", max_length=50)),
                ('channel', models.CharField(choices=[('email', 'Email'), ('sms', 'SMS')], max_length=10)),
                ('provider_event_id', models.CharField(max_length=255)),
                ('received_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('payload', models.JSONField(blank=True, default=dict)),
                ('raw', models.BinaryField(blank=True, default=b'')),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('claimed', 'Processing'), ('processed', 'Processed'), ('failed', 'Failed')], default='pending', max_length=20)),
                ('last_error', models.TextField(blank=True)),
                ('outcome', models.CharField(blank=True, max_length=100)),
                ('processed_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'verbose_name': 'inbound webhook event',
                'ordering': ['-received_at', '-id'],
                'indexes': [models.Index(fields=['status', 'received_at', 'id'], name='messaging_i_status_5e5966_idx')],
                'constraints': [models.UniqueConstraint(fields=('provider', 'provider_event_id'), name='inbound_event_provider_id_unique')],
            },
        ),
    ]
