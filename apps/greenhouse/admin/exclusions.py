"""The teams' exclusion lists and their history in the support console, read-only: support
answers "why was this not synced?" from here; only team admins change the lists (their
Exclusions tab, exclusion_services.py), so every change has its history row."""

from django.contrib import admin

from ..models import ExclusionChange, TeamExclusions
from .base import ReadOnlyAdmin


@admin.register(TeamExclusions)
class TeamExclusionsAdmin(ReadOnlyAdmin):
    list_display = ("team", "internal", "listed_count", "automated_headers", "updated_at")
    list_select_related = ("team",)
    search_fields = ("team__name", "team__slug")
    fields = (
        "team",
        "internal_domains",
        "listed",
        "automated_senders",
        "automated_headers",
        "updated_by",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description="Own domains")
    def internal(self, obj):
        return ", ".join(obj.internal_domains or []) or "—"

    @admin.display(description="Excluded entries")
    def listed_count(self, obj):
        return len(obj.listed or [])


@admin.register(ExclusionChange)
class ExclusionChangeAdmin(ReadOnlyAdmin):
    list_display = ("at", "team", "added", "removed", "skipped", "effect", "by_name")
    list_display_links = ("at",)
    list_filter = (("at", admin.DateFieldListFilter), "team")
    list_select_related = ("team",)
    search_fields = ("team__name", "team__slug", "by_name")
    show_full_result_count = False
    fields = ("team", "added", "removed", "skipped", "effect", "by", "by_name", "at")
    readonly_fields = fields
