"""The review of sensitive mail in the support console, read-only: which messages wait for a
recruiter, which rules matched (the rules' names, never the matched text), who decided and when;
the teams' review rules. Support sees; the recruiters and team admins decide in the app."""

from django.contrib import admin

from ..models import ReviewRules, SensitiveReview
from .base import ReadOnlyAdmin


@admin.register(SensitiveReview)
class SensitiveReviewAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "team", "prospect", "matched", "state", "expires_at")
    list_display_links = ("created_at",)
    list_filter = ("state", ("created_at", admin.DateFieldListFilter), "team")
    list_select_related = ("team", "prospect")
    search_fields = ("team__name", "team__slug", "prospect__first_name", "prospect__last_name")
    show_full_result_count = False
    # The edited text is the recruiter's note as Greenhouse will show it: shown, as the note is.
    fields = (
        "record",
        "team",
        "prospect",
        "matched",
        "state",
        "expires_at",
        "edited_text",
        "decided_by_name",
        "decided_at",
        "created_at",
    )
    readonly_fields = fields


@admin.register(ReviewRules)
class ReviewRulesAdmin(ReadOnlyAdmin):
    list_display = ("integration", "enabled", "review_hours", "on_expiry", "changed_at")
    list_select_related = ("integration__team",)
    fields = ("integration", "enabled", "terms", "review_hours", "on_expiry", "changed_at")
    readonly_fields = fields
