"""The switch history in the support console: every enable, disable, on, off and settings change
of a team's sync, who made it and when, read-only (rows are appended by switches.py only). A
list with filters, and the latest entries inline on each Greenhouse connection's page."""

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html

from ..models import SwitchEvent
from .base import ReadOnlyAdmin


def _change_badge(obj: SwitchEvent):
    return format_html('<strong class="tone-{}">{}</strong>', obj.tone, obj.get_change_display())


def _when(obj: SwitchEvent) -> str:
    return f"{timezone.localtime(obj.at):%Y-%m-%d %H:%M}"


@admin.register(SwitchEvent)
class SwitchEventAdmin(ReadOnlyAdmin):
    list_display = ("when", "team", "change_badge", "value", "effect", "by_name")
    list_display_links = ("when",)
    list_filter = ("change", ("at", admin.DateFieldListFilter), "integration__team")
    list_select_related = ("integration__team",)
    search_fields = ("integration__team__name", "integration__team__slug", "by_name")
    show_full_result_count = False
    fields = ("integration", "change", "value", "effect", "by", "by_name", "at")
    readonly_fields = fields

    @admin.display(description="When", ordering="at")
    def when(self, obj):
        return _when(obj)

    @admin.display(description="Team", ordering="integration__team__name")
    def team(self, obj):
        return obj.integration.team

    @admin.display(description="Change", ordering="change")
    def change_badge(self, obj):
        return _change_badge(obj)


class SwitchEventInline(admin.TabularInline):
    """The connection page's history, newest first (the whole list is one link away)."""

    model = SwitchEvent
    extra = 0
    max_num = 0
    fields = ("when", "change_badge", "value", "effect", "by_name")
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "Switch history (newest first)"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="When")
    def when(self, obj):
        return _when(obj)

    @admin.display(description="Change")
    def change_badge(self, obj):
        return _change_badge(obj)
