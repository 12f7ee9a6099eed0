"""Support staff's pages for each team's Greenhouse connection (host profile, entitlement, health,
the enable and disable actions, the switch history) and its user mappings. The actions call
switches.py and connection.py, which also word what the actions report."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from apps.core.crypto import SecretDecryptionError
from apps.teams.models import Membership

from ..connection import (
    CREDENTIAL_CHANGE_MESSAGE,
    CREDENTIAL_FIELDS,
    SECRET_BOUND_FIELDS,
    greenhouse_integration_create,
    greenhouse_integration_test_connection,
    greenhouse_integration_update,
    greenhouse_user_mapping_set,
    greenhouse_user_mappings_refresh,
    harvest_error_in_plain_words,
)
from ..harvest.errors import HarvestError
from ..models import (
    GreenhouseIntegration,
    GreenhouseUserMapping,
)
from ..selectors import (
    greenhouse_user_mapping_gaps,
)
from ..switches import (
    support_disable_outcome,
    support_enable_outcome,
    team_sync_disable_by_support,
    team_sync_enable_by_support,
)
from .switch_history import switch_history_table

# Colours are classes of static/css/admin.css (tone-<tone>, apps/core/tones.py): the
# Content-Security-Policy allows no style="".


def _short_time(value) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M}" if value else "—"


def _sync_state(obj: GreenhouseIntegration) -> tuple[str, str, object]:
    """(tone, label, since) of a team's sync, both switches read together."""
    if not obj.sync_enabled_by_support:
        if obj.sync_enabled_at:
            return "bad", "Disabled by support", _short_time(obj.sync_enabled_at)
        return "muted", "Not enabled", None
    if not obj.sync_on:
        return "warn", "Enabled, team's switch off", None
    moments = [moment for moment in (obj.sync_on_since, obj.sync_enabled_at) if moment]
    return "ok", "On", _short_time(max(moments)) if moments else None


class GreenhouseIntegrationForm(forms.ModelForm):
    """Support staff's form. The host is a select of the operator's profiles (settings), never a
    URL; a new client ID or host needs the secret entered again."""

    # Write-only: never rendered back, not even after a validation error.
    client_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave empty to keep the stored secret.",
    )

    class Meta:
        model = GreenhouseIntegration
        fields = ("team", "client_id", "client_secret", "acting_user_id", "host")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.has_client_secret:
            self.fields["client_secret"].help_text = (
                f"Stored: {self.instance.client_secret_summary}. Leave empty to keep it (a new "
                "client ID or host needs the secret again)."
            )

    def clean(self):
        super().clean()
        data = self.cleaned_data
        secret = (data.get("client_secret") or "").strip()
        data["client_secret"] = secret
        stored = self.instance.pk and self.instance.has_client_secret
        if not secret and not stored:
            self.add_error("client_secret", "Enter the client secret.")
        elif not secret and any(
            name in data and data[name] != getattr(self.instance, name)
            for name in SECRET_BOUND_FIELDS
        ):
            self.add_error("client_secret", CREDENTIAL_CHANGE_MESSAGE)
        return data


@admin.register(GreenhouseIntegration)
class GreenhouseIntegrationAdmin(admin.ModelAdmin):
    form = GreenhouseIntegrationForm
    # The columns that fit at 1366 px beside the nav sidebar and the filters; the acting user,
    # the client ID (searchable), the secret's state and the whole error are on each
    # connection's page.
    list_display = (
        "team",
        "health_state",
        "sync_state",
        "notes",
        "host_name",
        "short_error",
    )
    list_filter = (
        "health",
        "host",
        "sync_enabled_by_support",
        "sync_on",
        "note_visibility",
        "unknown_recipients",
    )
    list_select_related = ("team",)
    search_fields = ("team__name", "team__slug", "client_id")
    raw_id_fields = ("team",)
    readonly_fields = (
        "team_slug",
        "client_secret_status",
        "health_badge",
        "last_error",
        "last_checked_at",
        "mapping_gaps",
        "sync_status",
        "switch_history",
        "created_at",
        "updated_at",
    )
    actions = ("test_connection", "refresh_user_mappings", "enable_sync", "disable_sync")

    def get_fieldsets(self, request, obj=None):
        credential = ["team", "client_id", "client_secret", "acting_user_id"]
        if obj is not None:
            credential.insert(3, "client_secret_status")
            credential.insert(1, "team_slug")
        fieldsets = [
            (None, {"fields": credential}),
            ("Host", {"fields": ["host"]}),
        ]
        if obj is not None:
            fieldsets.append(
                (
                    "Health",
                    {
                        "fields": [
                            "health_badge",
                            "last_error",
                            "last_checked_at",
                            "mapping_gaps",
                            "sync_status",
                            "created_at",
                            "updated_at",
                        ]
                    },
                )
            )
            fieldsets.append(("Switch history (newest first)", {"fields": ["switch_history"]}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "team") if obj is not None else self.readonly_fields

    @admin.display(description="Team slug")
    def team_slug(self, obj):
        return format_html(
            "<code>{}</code> · support check: <code>manage.py greenhouse_check {}</code>",
            obj.team.slug,
            obj.team.slug,
        )

    @admin.display(description="Client secret")
    def client_secret_status(self, obj):
        return obj.client_secret_summary

    @admin.display(description="Health", ordering="health")
    def health_badge(self, obj):
        return format_html(
            '<strong class="tone-{}">{}</strong>',
            GreenhouseIntegration.Health(obj.health).tone,
            obj.get_health_display(),
        )

    @admin.display(description="Last error")
    def short_error(self, obj):
        if len(obj.last_error) <= 80:
            return obj.last_error
        return format_html('<span title="{}">{}…</span>', obj.last_error, obj.last_error[:80])

    @admin.display(description="Changes")
    def switch_history(self, obj):
        return switch_history_table(obj)

    @admin.display(description="Sync", ordering="sync_enabled_by_support")
    def sync_state(self, obj):
        tone, label, since = _sync_state(obj)
        return format_html(
            '<strong class="tone-{}">{}</strong>{}',
            tone,
            label,
            format_html('<br><span class="tone-muted nowrap">since {}</span>', since)
            if since
            else "",
        )

    @admin.display(description="Notes", ordering="note_visibility")
    def notes(self, obj):
        return obj.get_note_visibility_display().split(":")[0]

    @admin.display(description="Host", ordering="host")
    def host_name(self, obj):
        return obj.host_label

    @admin.display(description="Health", ordering="health")
    def health_state(self, obj):
        return format_html(
            '{}<br><span class="tone-muted nowrap">checked {}</span>',
            self.health_badge(obj),
            _short_time(obj.last_checked_at),
        )

    @admin.display(description="Team members without a Greenhouse user")
    def mapping_gaps(self, obj):
        gaps = greenhouse_user_mapping_gaps(integration=obj)
        if not gaps:
            return "None"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} ({}): {}</li>",
                ((gap.user.email or gap.user.get_username(), gap.role, gap.reason) for gap in gaps),
            ),
        )

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        fields = {name: data[name] for name in CREDENTIAL_FIELDS if name in data}
        if change:
            stored = GreenhouseIntegration.objects.get(pk=obj.pk)
            saved = greenhouse_integration_update(
                integration=stored, client_secret=data["client_secret"], **fields
            )
        else:
            saved = greenhouse_integration_create(
                team=data["team"], client_secret=data["client_secret"], **fields
            )
        obj.pk = saved.pk
        obj.client_secret_encrypted = saved.client_secret_encrypted
        obj.health, obj.last_error = saved.health, saved.last_error

    @admin.display(description="Activity sync")
    def sync_status(self, obj):
        enabled = (
            f"enabled by support {_short_time(obj.sync_enabled_at)} ({obj.sync_enabled_by})"
            if obj.sync_enabled_by_support and obj.sync_enabled_at
            else f"disabled by support {_short_time(obj.sync_enabled_at)} ({obj.sync_enabled_by})"
            if obj.sync_enabled_at
            else "not enabled by support yet"
        )
        switch = (
            f"team admin's switch on since {_short_time(obj.sync_on_since)}"
            if obj.sync_on and obj.sync_on_since
            else "team admin's switch off"
        )
        waiting = (
            f"recipients not in Greenhouse: {obj.get_unknown_recipients_display().lower()}"
            f" ({obj.waiting_days} day{'s' if obj.waiting_days != 1 else ''})"
        )
        return f"{enabled}; {switch}; notes {obj.get_note_visibility_display().lower()}; {waiting}"

    @admin.action(description="Enable activity sync (after a connection test)")
    def enable_sync(self, request, queryset):
        for integration in queryset.select_related("team"):
            if integration.sync_enabled_by_support:
                self.message_user(
                    request, f"{integration.team}: sync was already enabled; nothing changed."
                )
                continue
            try:
                team_sync_enable_by_support(integration=integration, by=request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(request, support_enable_outcome(integration), messages.SUCCESS)

    @admin.action(description="Disable activity sync")
    def disable_sync(self, request, queryset):
        for integration in queryset.select_related("team"):
            if not integration.sync_enabled_by_support:
                self.message_user(
                    request, f"{integration.team}: sync was not enabled; nothing changed."
                )
                continue
            skipped = team_sync_disable_by_support(integration=integration, by=request.user)
            self.message_user(
                request, support_disable_outcome(integration, skipped=skipped), messages.SUCCESS
            )

    @admin.action(description="Test the connection to Greenhouse")
    def test_connection(self, request, queryset):
        for integration in queryset.select_related("team"):
            check = greenhouse_integration_test_connection(integration=integration)
            level = messages.SUCCESS if check.ok else messages.ERROR
            self.message_user(request, f"{integration.team}: {check.message}", level)

    @admin.action(description="Look up team members' Greenhouse users by email")
    def refresh_user_mappings(self, request, queryset):
        for integration in queryset.select_related("team"):
            try:
                mappings = greenhouse_user_mappings_refresh(integration=integration)
            except (HarvestError, SecretDecryptionError) as exc:
                reason = harvest_error_in_plain_words(exc, integration=integration)
                self.message_user(request, f"{integration.team}: {reason}", messages.ERROR)
                continue
            mapped = sum(1 for m in mappings if m.greenhouse_user_id)
            self.message_user(
                request,
                f"{integration.team}: {mapped} of {len(mappings)} team members mapped.",
                messages.SUCCESS if mapped == len(mappings) else messages.WARNING,
            )


class GreenhouseUserMappingForm(forms.ModelForm):
    class Meta:
        model = GreenhouseUserMapping
        fields = ("integration", "user", "greenhouse_user_id")

    def clean(self):
        super().clean()
        data = self.cleaned_data
        integration, user = data.get("integration"), data.get("user")
        if (
            integration
            and user
            and not Membership.objects.filter(team_id=integration.team_id, user=user).exists()
        ):
            self.add_error("user", f"{user} is not a member of {integration.team}.")
        if not data.get("greenhouse_user_id"):
            self.add_error("greenhouse_user_id", "Enter the Greenhouse user ID.")
        return data


@admin.register(GreenhouseUserMapping)
class GreenhouseUserMappingAdmin(admin.ModelAdmin):
    """Support staff and team admins override a mapping here; a saved mapping is kept by later
    lookups by email."""

    form = GreenhouseUserMappingForm
    list_display = ("user", "team", "greenhouse_user_id", "source", "problem", "looked_up_at")
    list_filter = ("source", ("greenhouse_user_id", admin.EmptyFieldListFilter))
    list_select_related = ("user", "integration__team")
    search_fields = ("user__email", "user__username", "integration__team__name")
    raw_id_fields = ("user", "integration")
    readonly_fields = ("source", "problem", "looked_up_at", "updated_at")

    @admin.display(description="Team", ordering="integration__team__name")
    def team(self, obj):
        return obj.integration.team

    def get_readonly_fields(self, request, obj=None):
        # A mapping belongs to one person: change the Greenhouse user, not whom it is for.
        return (*self.readonly_fields, "integration", "user") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        saved = greenhouse_user_mapping_set(
            integration=obj.integration,
            user=obj.user,
            greenhouse_user_id=form.cleaned_data["greenhouse_user_id"],
        )
        obj.pk = saved.pk
        obj.source = saved.source
