"""Support staff's pages about candidates: bot emails, candidate links (settling an ambiguous
match), the re-lookups of prospects not in Greenhouse yet, the candidates' sync pauses with
their events, threads' own note visibility with its history, and each team's candidate directory
with its request log (read only; its entries are hashes, so they have no page)."""

from django import forms
from django.contrib import admin

from ..models import (
    BotNotice,
    CandidateDirectory,
    CandidateLink,
    DirectoryFetch,
    ProspectLookup,
    ProspectSyncPause,
    SyncPauseEvent,
    ThreadNoteVisibility,
    ThreadVisibilityEvent,
)
from ..switches import (
    candidate_link_choose,
)
from .base import ReadOnlyAdmin

# Colours are classes of static/css/admin.css (tone-<tone>, apps/core/tones.py): the
# Content-Security-Policy allows no style="".


@admin.register(BotNotice)
class BotNoticeAdmin(ReadOnlyAdmin):
    list_display = ("thread", "status", "recipient", "attempts", "created_at", "sent_at")
    list_filter = ("status",)
    list_select_related = ("thread__prospect",)
    search_fields = ("recipient", "rfc_message_id")
    show_full_result_count = False


@admin.register(ProspectLookup)
class ProspectLookupAdmin(ReadOnlyAdmin):
    """Prospects whose messages wait for a Greenhouse candidate, and when they are looked up
    next (apps/greenhouse/waiting.py). Read-only: the schedule and the sweep move them."""

    list_display = (
        "prospect",
        "team",
        "status",
        "step",
        "next_attempt_at",
        "last_looked_up_at",
        "waiting_since",
        "attempts",
    )
    list_filter = ("status",)
    list_select_related = ("prospect", "team")
    search_fields = ("prospect__emails__email", "prospect__last_name", "team__slug")
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


@admin.register(ThreadNoteVisibility)
class ThreadNoteVisibilityAdmin(ReadOnlyAdmin):
    list_display = ("thread", "team", "visibility", "set_by", "set_at")
    list_filter = ("visibility",)
    list_select_related = ("thread", "team", "set_by")
    show_full_result_count = False


@admin.register(ThreadVisibilityEvent)
class ThreadVisibilityEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "thread", "team", "previous", "visibility", "by_name")
    list_filter = ("visibility",)
    list_select_related = ("thread", "team")


@admin.register(CandidateDirectory)
class CandidateDirectoryAdmin(ReadOnlyAdmin):
    list_display = (
        "team", "complete", "refreshed_at", "crawled_at", "pass_kind", "pages", "failures",
        "retry_at",
    )  # fmt: skip
    list_filter = ("complete", "pass_kind")
    list_select_related = ("team",)
    exclude = ("key_id", "lease_token")


@admin.register(DirectoryFetch)
class DirectoryFetchAdmin(ReadOnlyAdmin):
    list_display = (
        "team", "kind", "page", "outcome", "candidates", "http_status", "started_at",
        "finished_at",
    )  # fmt: skip
    list_filter = ("kind", "outcome")
    list_select_related = ("team",)
    show_full_result_count = False
