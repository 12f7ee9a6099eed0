"""The support console's sync log: sync records with their attempts, filters that read small
tables, exact search through indexes, retry, and the dashboard (dashboard.py's report)."""

from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from apps.teams.models import Team

from ..dashboard import sync_dashboard
from ..models import (
    SyncAttempt,
    SyncRecord,
)
from ..policy import EXPLANATIONS, reason_label
from ..selectors import (
    sync_record_search,
)
from ..switches import (
    sync_records_retry,
)
from .base import ReadOnlyAdmin

# Colours are classes of static/css/admin.css (tone-<tone>, apps/core/tones.py): the
# Content-Security-Policy allows no style="".


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
        return [(reason.value, reason.label) for reason in EXPLANATIONS]

    def queryset(self, request, queryset):
        return queryset.filter(reason=self.value()) if self.value() else queryset


class SyncRecordAdmin(ReadOnlyAdmin):
    """The support console's sync log. Built for millions of rows: no full COUNT(*) (capped
    paginator, no full result count), no date hierarchy (its year/month links scan the table),
    filters that read small tables, exact-match search answered by indexes, newest first by id."""

    # The columns that fit at 1366 px beside the nav sidebar and the filters: the record's id
    # is in its link (the time), the channel and direction under the candidate's name.
    list_display = (
        "created",
        "team",
        "candidate",
        "status_badge",
        "reason_label",
        "note",
        "short_error",
    )
    list_display_links = ("created",)
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
        "reason_label",
        "explanation",
        "backfill",
        "reason_detail",
        "candidate_id",
        "note_id",
        "visibility",
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
        return format_html(
            '<span class="nowrap">{}</span>', f"{timezone.localtime(obj.created_at):%Y-%m-%d %H:%M}"
        )

    @admin.display(description="Candidate", ordering="prospect__last_name")
    def candidate(self, obj):
        return format_html(
            '{}<br><span class="tone-muted">{}, {}</span>',
            obj.prospect,
            obj.get_channel_display(),
            obj.get_direction_display().lower(),
        )

    @admin.display(description="Reason", ordering="reason")
    def reason_label(self, obj):
        # The reason's own words (a backfill is named on the record's page: no join per row).
        label = format_html(
            '<span title="{}">{}</span>', obj.reason_explanation, reason_label(obj.reason)
        )
        if obj.reason_detail:  # the exclusion entry that skipped it (issue 16)
            detail = obj.reason_detail
            return format_html('{}<br><span class="tone-muted">by {}</span>', label, detail)
        return label

    @admin.display(description="Note", ordering="note_id")
    def note(self, obj):
        if not obj.note_id:
            return "—"
        if not obj.visibility:
            return obj.note_id
        return format_html(
            '{}<br><span class="tone-muted">{}</span>',
            obj.note_id,
            obj.visibility.replace("_", " "),
        )

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj):
        tone = SyncRecord.Status(obj.status).tone
        return format_html(
            '<strong class="tone-{} nowrap">{}</strong>', tone, obj.get_status_display()
        )

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
