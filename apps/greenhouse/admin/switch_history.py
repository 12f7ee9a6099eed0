"""The switch history in the support console: every enable, disable, on, off and settings change
of a team's sync, who made it and when, read-only (rows are appended by switches.py only). A
list with filters, and the team's entries inline on its Greenhouse connection's page (switches
change a few times a year, so the whole history fits there)."""

from django.contrib import admin
from django.utils.html import format_html

from ..models import SwitchEvent
from .base import ReadOnlyAdmin


def _change_badge(obj: SwitchEvent):
    return format_html('<strong class="tone-{}">{}</strong>', obj.tone, obj.get_change_display())


@admin.register(SwitchEvent)
class SwitchEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "team", "change_badge", "value", "effect", "by_name")
    list_display_links = ("at",)
    list_filter = ("change", ("at", admin.DateFieldListFilter), "integration__team")
    list_select_related = ("integration__team",)
    search_fields = ("integration__team__name", "integration__team__slug", "by_name")
    show_full_result_count = False
    fields = ("integration", "change", "value", "effect", "by", "by_name", "at")
    readonly_fields = fields

    @admin.display(description="Team", ordering="integration__team__name")
    def team(self, obj):
        return obj.integration.team

    @admin.display(description="Change", ordering="change")
    def change_badge(self, obj):
        return _change_badge(obj)


class SwitchEventInline(admin.TabularInline):
    """The connection page's history, newest first."""

    model = SwitchEvent
    extra = 0
    max_num = 0
    fields = ("at", "change_badge", "value", "effect", "by_name")
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "Switch history (newest first)"
    classes = ("switch-history",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Change")
    def change_badge(self, obj):
        return _change_badge(obj)
