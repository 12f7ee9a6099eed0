from typing import cast

from django import forms
from django.conf import settings

from .connection import CREDENTIAL_CHANGE_MESSAGE
from .exclusions import ExclusionRules, entries_parse
from .models import GreenhouseIntegration, MaildropOverlap, NoteVisibility, ReviewExpiry
from .switches import WAITING_DAYS_MAX, WAITING_DAYS_MIN
from .visibility import stricter_choices

# What "create them in Greenhouse" risks, said where a team admin chooses it (issue 15).
CREATE_RISK = (
    "Creating candidates risks duplicates: someone who is already in Greenhouse under another "
    "email address (a work address, an old one) gets a second, nearly empty profile, and family, "
    "referrers or colleagues you email from a sequence become candidates too. Every address of "
    "the prospect is searched first, but Greenhouse cannot match what it does not have."
)


def _duration(seconds: float) -> str:
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''}"
    return f"{seconds:g} s"


def unknown_recipients_help() -> dict[str, str]:
    """What each choice does, with the re-lookup schedule as this server runs it."""
    delays = [_duration(s) for s in settings.GREENHOUSE_WAITING_LOOKUP_SCHEDULE]
    last = "day" if delays[-1] == "1 day" else delays[-1]
    schedule = ", ".join(delays[:-1]) + f", then every {last}" if len(delays) > 1 else ""
    return {
        "wait": (
            f"Their messages wait. The app looks them up again ({schedule or delays[0]}) and "
            "writes every waiting message, in order and with its original date, once the "
            "candidate appears; a person can link or create them in the review queue."
        ),
        "create": CREATE_RISK,
        "skip": "Their messages are never written, as before: the first exchange is lost.",
    }


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
    # Issue 15. Not sent: the team's choice stays as it is.
    unknown_recipients = forms.ChoiceField(
        label="Recipients not in Greenhouse",
        choices=cast(
            "list[tuple[str, str]]",
            GreenhouseIntegration._meta.get_field("unknown_recipients").choices,
        ),
        widget=forms.RadioSelect,
        required=False,
    )
    waiting_days = forms.IntegerField(
        label="Days to wait for a candidate to appear in Greenhouse",
        min_value=WAITING_DAYS_MIN,
        max_value=WAITING_DAYS_MAX,
        required=False,
        help_text=f"From {WAITING_DAYS_MIN} to {WAITING_DAYS_MAX} days, counted from each message.",
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


class BackfillWindowForm(forms.Form):
    """A backfill's window (GET for the dry run, POST for the run): a number of days before the
    window's end, or a date."""

    window = forms.ChoiceField(
        label="Messages from",
        choices=[
            ("7", "the last 7 days before"),
            ("30", "the last 30 days before"),
            ("90", "the last 90 days before"),
            ("date", "a date on"),
        ],
        initial="30",
        widget=forms.RadioSelect,
    )
    since = forms.DateField(
        label="Date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="With “a date on”: messages from the start of this day.",
    )

    def clean(self):
        data = super().clean() or {}
        if data.get("window") == "date" and not data.get("since"):
            self.add_error("since", "Choose the date the window starts on.")
        return data

    def window_of(self, *, until):
        """(since, label) for the window ending at `until`; raises ValidationError."""
        from .backfill import backfill_window

        data = self.cleaned_data
        if data["window"] == "date":
            return backfill_window(until=until, since_date=data["since"])
        return backfill_window(until=until, days=int(data["window"]))


class ExclusionsForm(forms.Form):
    """The team's exclusion lists, one entry per line. A bad line is an error naming the line;
    the textareas keep everything typed, so nothing is lost while it is fixed."""

    internal_domains = forms.CharField(
        label="The team's own domains (internal mail)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="One domain per line, such as acme.example. Subdomains are included.",
    )
    listed = forms.CharField(
        label="Excluded addresses and domains",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text=(
            "One per line: an address (someone@agency.example), a domain (agency.example) or a "
            "name at any domain (jobs@)."
        ),
    )
    automated_senders = forms.CharField(
        label="Automated senders",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="One name per line, ending in @ (noreply@ matches noreply at any domain).",
    )
    automated_headers = forms.BooleanField(
        label=(
            "Skip auto-replies and bounces by their headers (Auto-Submitted, X-Autoreply, "
            "X-Autorespond, Precedence, delivery reports, an empty Return-Path)"
        ),
        required=False,
    )

    ALLOW = {
        "internal_domains": ("domain",),
        "listed": ("address", "domain", "local"),
        "automated_senders": ("local",),
    }

    def _clean_list(self, name: str) -> list[str]:
        parsed = entries_parse(self.cleaned_data.get(name, ""), allow=self.ALLOW[name])
        if parsed.errors:
            raise forms.ValidationError(parsed.errors)
        return parsed.entries

    def clean_internal_domains(self):
        return self._clean_list("internal_domains")

    def clean_listed(self):
        return self._clean_list("listed")

    def clean_automated_senders(self):
        return self._clean_list("automated_senders")

    def rules(self):
        data = self.cleaned_data
        return ExclusionRules(
            internal_domains=tuple(data["internal_domains"]),
            listed=tuple(data["listed"]),
            automated_senders=tuple(data["automated_senders"]),
            automated_headers=bool(data["automated_headers"]),
        )

    @classmethod
    def initial_for(cls, rules) -> dict:
        return {
            "internal_domains": "\n".join(rules.internal_domains),
            "listed": "\n".join(rules.listed),
            "automated_senders": "\n".join(rules.automated_senders),
            "automated_headers": rules.automated_headers,
        }


class ThreadVisibilityForm(forms.Form):
    """A thread's own visibility for its later notes: the team's default, or a stricter one
    (only those are offered; visibility.py refuses a less strict one anyway)."""

    visibility = forms.ChoiceField(required=False)

    def __init__(self, *args, team_default: str, **kwargs):
        super().__init__(*args, **kwargs)
        default = ("", f"Team default ({NoteVisibility(team_default).label})")
        field = cast(forms.ChoiceField, self.fields["visibility"])
        # Every value passes the form: the service refuses a less strict one in plain words.
        field.choices = [default, *NoteVisibility.choices]
        field.widget.choices = [default, *stricter_choices(team_default)]


class ReviewRulesForm(forms.Form):
    """The team's review of sensitive mail (review.py): on/off, the list, the time, the choice."""

    UNITS = [("hours", "hours"), ("days", "days")]

    enabled = forms.BooleanField(label="Hold sensitive messages for review", required=False)
    terms = forms.CharField(
        label="Sensitive words and patterns",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
    )
    review_time = forms.IntegerField(label="Time to review", min_value=1, max_value=720)
    review_unit = forms.ChoiceField(choices=UNITS, label="Unit")
    on_expiry = forms.ChoiceField(
        label="When nobody reviews in time",
        choices=ReviewExpiry.choices,
        widget=forms.RadioSelect,
    )

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if "review_time" in data and "review_unit" in data:
            hours = data["review_time"] * (24 if data["review_unit"] == "days" else 1)
            if hours > 720:
                self.add_error("review_time", "At most 30 days.")
            data["review_hours"] = hours
        if data.get("enabled") and not (data.get("terms") or "").strip():
            self.add_error("terms", "Name at least one word or pattern, or turn the review off.")
        return data

    @staticmethod
    def initial_for(rules) -> dict:
        from .sensitive import DEFAULT_TERMS_TEXT

        if rules is None:
            return {
                "enabled": False,
                "terms": DEFAULT_TERMS_TEXT,
                "review_time": 3,
                "review_unit": "days",
                "on_expiry": ReviewExpiry.SKIP,
            }
        hours = rules.review_hours
        in_days = hours % 24 == 0
        return {
            "enabled": rules.enabled,
            "terms": rules.terms,
            "review_time": hours // 24 if in_days else hours,
            "review_unit": "days" if in_days else "hours",
            "on_expiry": rules.on_expiry,
        }
