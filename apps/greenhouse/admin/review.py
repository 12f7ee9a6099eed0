"""Support staff's read-only pages of the review queue (issue 15): every review action (who,
when, what, the candidate), the creations of candidates in Greenhouse with their state and
error, and the prospects a team chose never to sync. Changes go through the team's review queue."""

from django.contrib import admin

from ..models import CandidateCreation, ProspectSyncIgnore, ReviewAction
from .base import ReadOnlyAdmin


@admin.register(ReviewAction)
class ReviewActionAdmin(ReadOnlyAdmin):
    list_display = ("at", "prospect", "team", "action", "candidate_id", "by", "automatic")
    list_filter = ("action", "automatic")
    list_select_related = ("prospect", "team", "by")
    search_fields = ("prospect__emails__email", "prospect__last_name", "=candidate_id")
    show_full_result_count = False


@admin.register(CandidateCreation)
class CandidateCreationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "prospect", "team", "status", "candidate_id", "attempts")
    list_filter = ("status", "automatic")
    list_select_related = ("prospect", "team")
    search_fields = ("prospect__emails__email", "prospect__last_name", "=candidate_id")
    show_full_result_count = False


@admin.register(ProspectSyncIgnore)
class ProspectSyncIgnoreAdmin(ReadOnlyAdmin):
    list_display = ("prospect", "team", "ignored", "changed_by", "changed_at")
    list_filter = ("ignored",)
    list_select_related = ("prospect", "team", "changed_by")
    search_fields = ("prospect__emails__email", "prospect__last_name")
