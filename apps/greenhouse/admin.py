"""Support staff's Greenhouse pages in the Django admin: each connection (host profile, entitlement,
health), user mappings, sync records with their attempts and retry, bot emails, candidate links and
pauses. The dashboard report is dashboard.py's; the actions call switches.py and connection.py."""

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from apps.core.crypto import SecretDecryptionError
from apps.teams.models import Membership, Team

from .connection import (
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
from .dashboard import sync_dashboard
from .harvest.errors import HarvestError
from .models import (
    BotNotice,
    CandidateLink,
    GreenhouseIntegration,
    GreenhouseUserMapping,
    ProspectSyncPause,
    SyncAttempt,
    SyncPauseEvent,
    SyncRecord,
)
from .policy import EXPLANATIONS
from .selectors import (
    greenhouse_user_mapping_gaps,
    sync_record_search,
)
from .switches import (
    candidate_link_choose,
    sync_records_retry,
    team_sync_disable_by_support,
    team_sync_enable_by_support,
)

# Colours are classes of static/css/admin.css (tone-<tone>, apps/core/tones.py): the
# Content-Security-Policy allows no style="".


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
    list_display = (
        "team",
        "client_id",
        "host",
        "acting_user_id",
        "health_badge",
        "sync_enabled_by_support",
        "sync_on",
        "note_visibility",
        "last_checked_at",
        "short_error",
    )
    list_filter = ("health", "host", "sync_enabled_by_support", "sync_on", "note_visibility")
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
        return obj.last_error[:120]

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
            f"enabled by support {obj.sync_enabled_at:%Y-%m-%d %H:%M} ({obj.sync_enabled_by})"
            if obj.sync_enabled_by_support and obj.sync_enabled_at
            else "not enabled by support"
        )
        switch = (
            f"on since {obj.sync_on_since:%Y-%m-%d %H:%M}"
            if obj.sync_on and obj.sync_on_since
            else "off (team admin's switch)"
        )
        return f"{enabled}; {switch}; notes {obj.get_note_visibility_display().lower()}"

    @admin.action(description="Enable activity sync (after a connection test)")
    def enable_sync(self, request, queryset):
        for integration in queryset.select_related("team"):
            try:
                team_sync_enable_by_support(integration=integration, by=request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{integration.team}: sync enabled. A team admin turns it on in the app.",
                    messages.SUCCESS,
                )

    @admin.action(description="Disable activity sync")
    def disable_sync(self, request, queryset):
        for integration in queryset.select_related("team"):
            skipped = team_sync_disable_by_support(integration=integration, by=request.user)
            self.message_user(
                request, f"{integration.team}: sync disabled; {skipped} waiting messages skipped."
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


class ReadOnlyAdmin(admin.ModelAdmin):
    """Logs: support staff read them; changes go through services (actions)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SyncAttemptInline(admin.TabularInline):
    model = SyncAttempt
    extra = 0
    fields = ("kind", "outcome", "http_status", "error", "started_at", "finished_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CappedPaginator(Paginator):
    """Counts at most COUNT_CAP rows (a bounded COUNT over a LIMIT subquery), never the whole
    table: the changelist of a log with millions of rows costs the same as a small one. Pages
    beyond the cap are reached by filtering or searching, as in healthchecks' PingsPaginator."""

    COUNT_CAP = 10_000

    @cached_property
    def count(self):
        queryset = cast(QuerySet[Any], self.object_list)  # the changelist's
        return queryset.order_by()[: self.COUNT_CAP].count()


class TeamListFilter(admin.SimpleListFilter):
    """Teams from the team table (small), not a DISTINCT over the sync log (huge)."""

    title = "team"
    parameter_name = "team"

    def lookups(self, request, model_admin):
        return [(str(team.pk), team.name) for team in Team.objects.order_by("name")]

    def queryset(self, request, queryset):
        return queryset.filter(team_id=self.value()) if self.value() else queryset


class ReasonListFilter(admin.SimpleListFilter):
    title = "reason"
    parameter_name = "reason"

    def lookups(self, request, model_admin):
        return [(reason.value, reason.value.replace("_", " ")) for reason in EXPLANATIONS]

    def queryset(self, request, queryset):
        return queryset.filter(reason=self.value()) if self.value() else queryset


class SyncRecordAdmin(ReadOnlyAdmin):
    """The support console's sync log. Built for millions of rows: no full COUNT(*) (capped
    paginator, no full result count), no date hierarchy (its year/month links scan the table),
    filters that read small tables, exact-match search answered by indexes, newest first by id."""

    list_display = (
        "id",
        "created",
        "team",
        "prospect",
        "channel",
        "status_badge",
        "reason",
        "note_id",
        "short_error",
    )
    list_filter = (
        "status",
        ReasonListFilter,
        TeamListFilter,
        "channel",
        "direction",
        ("created_at", admin.DateFieldListFilter),
    )
    list_select_related = ("team", "prospect")
    # The search box takes a candidate email, a Message-ID, a provider id, a Greenhouse note or
    # candidate id, always as a whole value (see get_search_results).
    search_fields = ("note_id",)
    search_help_text = (
        "A whole candidate email, Message-ID, ESP/Twilio message id, Greenhouse note ID or "
        "candidate ID."
    )
    paginator = CappedPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facet counts are a COUNT per filter choice
    ordering = ("-id",)
    readonly_fields = (
        "message",
        "team",
        "prospect",
        "thread",
        "channel",
        "direction",
        "status",
        "reason",
        "explanation",
        "candidate_id",
        "note_id",
        "note_ref",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "queued_at",
        "post_started_at",
        "last_error",
        "created_at",
        "updated_at",
        "written_at",
    )
    fields = readonly_fields
    inlines = (SyncAttemptInline,)
    actions = ("retry",)

    def get_search_results(self, request, queryset, search_term):
        # Exact values only, resolved through indexes (admin's icontains would scan the log).
        if not search_term.strip():
            return queryset, False
        return queryset.filter(sync_record_search(search_term)), False

    @admin.display(description="Created", ordering="id")
    def created(self, obj):
        return f"{timezone.localtime(obj.created_at):%Y-%m-%d %H:%M}"

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj):
        tone = SyncRecord.Status(obj.status).tone
        return format_html('<strong class="tone-{}">{}</strong>', tone, obj.get_status_display())

    @admin.display(description="Last error")
    def short_error(self, obj):
        if len(obj.last_error) <= 45:
            return obj.last_error
        return format_html('<span title="{}">{}…</span>', obj.last_error, obj.last_error[:45])

    def has_retry_permission(self, request) -> bool:
        """Retrying changes a record's state: it takes the change permission on sync records
        (the log's pages stay read-only for everyone), not only the view permission."""
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_retry": self.has_retry_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Retry the selected failed or held records", permissions=["retry"])
    def retry(self, request, queryset):
        self._report_retry(
            request, selected=queryset.count(), queued=sync_records_retry(records=queryset)
        )

    def _report_retry(self, request, *, selected: int, queued: int) -> None:
        if queued:
            self.message_user(
                request,
                f"{queued} record{'s' if queued != 1 else ''} queued again (a possible earlier "
                "write is checked before anything is written).",
                messages.SUCCESS,
            )
        if selected > queued:
            self.message_user(
                request,
                f"{selected - queued} not retried: only failed or held records can be.",
                messages.WARNING,
            )

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "dashboard/",
                self.admin_site.admin_view(self.dashboard_view),
                name="%s_%s_dashboard" % info,  # noqa: UP031 (Django's own naming style)
            ),
            path(
                "<int:pk>/retry/",
                self.admin_site.admin_view(require_POST(self.retry_view)),
                name="%s_%s_retry" % info,  # noqa: UP031
            ),
            *super().get_urls(),
        ]

    def retry_view(self, request, pk):
        if not self.has_retry_permission(request):
            raise PermissionDenied
        record = get_object_or_404(SyncRecord, pk=pk)
        queued = sync_records_retry(records=SyncRecord.objects.filter(pk=record.pk))
        self._report_retry(request, selected=1, queued=queued)
        return redirect("admin:greenhouse_syncrecord_change", record.pk)

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return TemplateResponse(
            request,
            "admin/greenhouse/dashboard.html",
            {
                **self.admin_site.each_context(request),
                **sync_dashboard(request),
                "opts": self.opts,
                "title": "Greenhouse sync dashboard",
            },
        )


admin.site.register(SyncRecord, SyncRecordAdmin)


@admin.register(BotNotice)
class BotNoticeAdmin(ReadOnlyAdmin):
    list_display = ("thread", "status", "recipient", "attempts", "created_at", "sent_at")
    list_filter = ("status",)
    list_select_related = ("thread__prospect",)
    search_fields = ("recipient", "rfc_message_id")
    show_full_result_count = False


class CandidateLinkForm(forms.ModelForm):
    class Meta:
        model = CandidateLink
        fields = ("candidate_id",)


@admin.register(CandidateLink)
class CandidateLinkAdmin(admin.ModelAdmin):
    """Support settles "several candidates share this email" by entering the right ID."""

    form = CandidateLinkForm
    list_display = ("prospect", "team", "match", "candidate_id", "candidate_ids_seen", "source")
    list_filter = ("match", "source")
    list_select_related = ("prospect", "team")
    search_fields = ("=candidate_id", "prospect__emails__email", "prospect__last_name")
    readonly_fields = (
        "team",
        "prospect",
        "match",
        "candidate_ids_seen",
        "emails_searched",
        "source",
        "resolved_at",
    )

    def has_add_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        queued = candidate_link_choose(
            link=CandidateLink.objects.get(pk=obj.pk), candidate_id=obj.candidate_id
        )
        self.message_user(
            request, f"{queued} held messages queued for candidate {obj.candidate_id}."
        )


@admin.register(ProspectSyncPause)
class ProspectSyncPauseAdmin(ReadOnlyAdmin):
    list_display = (
        "prospect",
        "team",
        "paused",
        "paused_at",
        "paused_via",
        "paused_by",
        "resume_version",
    )
    list_filter = ("paused", "paused_via")
    list_select_related = ("prospect", "team", "paused_by")
    search_fields = ("prospect__emails__email", "prospect__last_name")


@admin.register(SyncPauseEvent)
class SyncPauseEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "prospect", "team", "action", "via", "by", "link_recipient", "ip_address")
    list_filter = ("action", "via")
    list_select_related = ("prospect", "team", "by", "link_recipient")
    search_fields = ("prospect__emails__email", "prospect__last_name")
    show_full_result_count = False
