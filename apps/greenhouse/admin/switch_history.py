"""The switch history in the support console: every enable, disable, on, off and settings change
of a team's sync, who made it and when, read-only (rows are appended by switches.py only). A
list with filters, and the latest entries on each Greenhouse connection's page (a read-only
table, not an inline: there is nothing to edit, so no formset to post)."""

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

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


CONNECTION_PAGE_ROWS = 20


def switch_history_table(integration) -> str:
    """The connection page's history: its latest changes, newest first, and a link to all."""
    events = list(integration.switch_events.all()[:CONNECTION_PAGE_ROWS])
    if not events:
        return "No change yet."
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                f"{timezone.localtime(event.at):%Y-%m-%d %H:%M}",
                _change_badge(event),
                event.value or "—",
                event.effect,
                event.by_name or "—",
            )
            for event in events
        ),
    )
    everything = reverse("admin:greenhouse_switchevent_changelist")
    return format_html(
        '<table class="switch-history"><thead><tr><th>When</th><th>Change</th><th>Value</th>'
        "<th>What it did</th><th>By</th></tr></thead><tbody>{}</tbody></table>"
        '<p><a href="{}?integration__team__id__exact={}">The whole history of {}</a></p>',
        rows,
        everything,
        integration.team_id,
        integration.team,
    )
