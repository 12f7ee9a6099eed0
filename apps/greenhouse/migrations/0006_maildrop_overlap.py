"""The team's choice for emails that are synced and also BCC'd to Greenhouse Maildrop
(`maildrop_overlap`), and the sync reason `maildrop_bcc`. Existing connections get the default,
"skip the sync note": until now such emails were written twice, once public by Maildrop."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("greenhouse", "0005_outbox_lease"),
    ]

    operations = [
        migrations.AddField(
            model_name="greenhouseintegration",
            name="maildrop_overlap",
            field=models.CharField(
                choices=[
                    ("skip_sync_note", "Skip the sync note for emails BCC'd to Maildrop"),
                    ("write_both", "Write both: Maildrop's copy and the sync note"),
                ],
                default="skip_sync_note",
                editable=False,
                max_length=20,
                verbose_name="emails also BCC'd to Maildrop",
            ),
        ),
        migrations.AlterField(
            model_name="syncrecord",
            name="reason",
            field=models.CharField(
                choices=[
                    ("sequence_email", "sequence_email"),
                    ("first_reply", "first_reply"),
                    ("thread_message", "thread_message"),
                    ("sms", "sms"),
                    ("team_not_enabled", "team_not_enabled"),
                    ("sync_turned_off", "sync_turned_off"),
                    ("before_sync_on", "before_sync_on"),
                    ("not_sequence_thread", "not_sequence_thread"),
                    ("candidate_paused", "candidate_paused"),
                    ("no_candidate", "no_candidate"),
                    ("maildrop_bcc", "maildrop_bcc"),
                    ("connection_unhealthy", "connection_unhealthy"),
                    ("several_candidates", "several_candidates"),
                ],
                max_length=30,
            ),
        ),
    ]
