from typing import cast

from django import forms

from .connection import CREDENTIAL_CHANGE_MESSAGE
from .models import MaildropOverlap, NoteVisibility

PUBLIC_WARNING = (
    "All private communication with candidates will start getting written to the Greenhouse "
    "activity feed as public notes, visible to everyone with access to that candidate in "
    "Greenhouse (usually including the candidate's interviewers). Tell the whole team."
)


class SyncSettingsForm(forms.Form):
    sync_on = forms.BooleanField(label="Sync email and SMS activity to Greenhouse", required=False)
    note_visibility = forms.ChoiceField(
        label="Visibility of the notes",
        choices=NoteVisibility.choices,
        widget=forms.RadioSelect,
    )
    maildrop_overlap = forms.ChoiceField(
        label="Emails also BCC'd to Greenhouse Maildrop",
        choices=MaildropOverlap.choices,
        widget=forms.RadioSelect,
        required=False,  # not sent: the team's choice stays as it is
    )
    # Issue 16: SMS as a note each, or one transcript note per conversation once quiet.
    sms_notes = forms.ChoiceField(
        label="SMS notes",
        choices=[
            ("message", "One note per SMS"),
            ("transcript", "One transcript note per conversation, once it has been quiet"),
        ],
        widget=forms.RadioSelect,
        required=False,  # not sent: the team's choice stays as it is
    )
    sms_quiet_minutes = forms.IntegerField(
        label="Quiet time (minutes)",
        required=False,
        min_value=1,
        max_value=24 * 60,
        help_text="How long a conversation goes without a new SMS before its transcript is made.",
    )

    def clean(self):
        data = super().clean() or {}
        if data.get("sms_notes") == "transcript" and not data.get("sms_quiet_minutes"):
            self.add_error(
                "sms_quiet_minutes", "Enter how many minutes of quiet end a conversation."
            )
        return data


class ConnectionForm(forms.Form):
    """A team admin's Greenhouse credential: client ID, secret and acting user, nothing else. The
    hosts are the operator's (settings) and support's choice, never a URL typed here. The
    secret is write-only: never rendered back, not even in part."""

    # Fields of the old form: a post that still sends them is refused, not silently half-applied.
    NOT_TAKEN = ("api_base_url", "token_url", "host")

    client_id = forms.CharField(
        label="Client ID",
        max_length=255,
        help_text="Greenhouse → Configure → Dev Center → API Credentials → Harvest V3 (OAuth).",
    )
    client_secret = forms.CharField(
        label="Client secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    acting_user_id = forms.IntegerField(
        label="Acting Greenhouse user ID",
        required=False,
        min_value=1,
        help_text=(
            "The Site Admin the connection acts as (Harvest list endpoints need one). Leave "
            "empty for the credential's own service user."
        ),
    )

    def __init__(self, *args, integration=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.integration = integration
        secret = self.fields["client_secret"]
        if integration is not None and integration.has_client_secret:
            secret.help_text = (
                f"Stored: {integration.client_secret_summary}. Leave empty to keep it (a new "
                "client ID needs its secret)."
            )
        else:
            secret.help_text = "Shown once in Greenhouse when the credential is created."

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if any(self.data.get(name) for name in self.NOT_TAKEN):
            raise forms.ValidationError(
                "The Greenhouse hosts are set by this server's operator, not in this form; "
                "nothing was saved."
            )
        secret = data.get("client_secret")
        stored = self.integration is not None and self.integration.has_client_secret
        if "client_id" in data and not secret:
            if not stored:
                self.add_error("client_secret", "Enter the client secret.")
            elif data["client_id"].strip() != self.integration.client_id:
                self.add_error("client_secret", CREDENTIAL_CHANGE_MESSAGE)
        return data


class UserMappingForm(forms.Form):
    greenhouse_user_id = forms.IntegerField(label="Greenhouse user ID", min_value=1)


class SyncLogFilterForm(forms.Form):
    """The sync log's filters (GET). Invalid values are ignored rather than refused."""

    q = forms.CharField(
        label="Search",
        required=False,
        max_length=998,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": "Candidate name or email, Message-ID or note ID",
            }
        ),
    )
    status = forms.ChoiceField(label="Status", required=False)
    reason = forms.ChoiceField(label="Reason", required=False)
    channel = forms.ChoiceField(label="Channel", required=False)
    prospect = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)
    before = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args, **kwargs):
        from apps.messaging.models import Channel

        from .models import SyncRecord
        from .policy import EXPLANATIONS

        super().__init__(*args, **kwargs)
        everything = [("", "All")]
        status, reason, channel = (
            cast(forms.ChoiceField, self.fields[name]) for name in ("status", "reason", "channel")
        )
        status.choices = everything + list(SyncRecord.Status.choices)
        reason.choices = everything + [(reason.value, reason.label) for reason in EXPLANATIONS]
        channel.choices = everything + list(Channel.choices)
