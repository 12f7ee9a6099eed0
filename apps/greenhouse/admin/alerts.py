"""The alerts to team admins in the support console, read-only: support sees what each team's
admins see in their banner (open alerts), the resolved ones, and the emails sent about them.
Alerts change only through the evaluation (apps/greenhouse/alerts.py)."""

from django.contrib import admin

from ..alerts import alert_words
from ..models import AlertEmail, TeamAlert
from .base import ReadOnlyAdmin


@admin.register(TeamAlert)
class TeamAlertAdmin(ReadOnlyAdmin):
    list_display = (
        "team",
        "cause",
        "what",
        "is_open_now",
        "opened_at",
        "resolved_at",
        "emailed_on",
    )
    list_filter = ("cause", ("resolved_at", admin.EmptyFieldListFilter), "team")
    list_select_related = ("team",)
    search_fields = ("team__name", "team__slug")
    fields = (
        "team",
        "cause",
        "count",
        "opened_at",
        "resolved_at",
        "emailed_on",
        "emailed_count",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description="What")
    def what(self, obj):
        return alert_words(obj.cause, obj.count)

    @admin.display(description="Open", boolean=True, ordering="resolved_at")
    def is_open_now(self, obj):
        return obj.is_open


@admin.register(AlertEmail)
class AlertEmailAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "team", "status", "causes", "recipients", "sent_at")
    list_filter = ("status", "team")
    list_select_related = ("team",)
    fields = (
        "team",
        "status",
        "causes",
        "recipients",
        "attempts",
        "error",
        "created_at",
        "sent_at",
    )
    readonly_fields = fields
