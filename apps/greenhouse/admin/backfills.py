"""Backfills in the support console, read-only: who asked for which window and scope, what the
dry run counted, and how far the run got (rows are written by backfill.py only)."""

from django.contrib import admin

from ..backfill_progress import backfill_progress
from ..models import Backfill
from .base import ReadOnlyAdmin


@admin.register(Backfill)
class BackfillAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "team",
        "scope",
        "prospect",
        "window_label",
        "requested_by_name",
        "released",
        "held",
        "status",
    )
    list_filter = ("status", "scope", ("created_at", admin.DateFieldListFilter), "team")
    list_select_related = ("team", "prospect")
    search_fields = ("team__name", "team__slug", "requested_by_name")
    show_full_result_count = False
    fields = (
        "team",
        "scope",
        "prospect",
        "since",
        "until",
        "window_label",
        "requested_by",
        "requested_by_name",
        "status",
        "counts",
        "released",
        "held",
        "progress",
        "created_at",
        "finished_at",
    )
    readonly_fields = fields

    @admin.display(description="Progress now")
    def progress(self, obj):
        p = backfill_progress(backfill=obj)
        return (
            f"{p.written} written, {p.waiting} waiting, {p.held} held, {p.skipped} skipped, "
            f"{p.failed} failed"
        )
