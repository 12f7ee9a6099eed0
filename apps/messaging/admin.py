from django.contrib import admin
from django.utils import timezone

from .models import Message, Thread, UnmatchedInbound, VirtualPhoneNumber


@admin.register(VirtualPhoneNumber)
class VirtualPhoneNumberAdmin(admin.ModelAdmin):
    list_display = ("number", "user", "team", "twilio_sid")
    list_select_related = ("user", "team")
    search_fields = ("number", "user__email")
    raw_id_fields = ("user",)


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ("created_at", "direction", "from_address", "subject", "status")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    list_display = ("__str__", "team", "channel", "owner", "last_message_at")
    list_filter = ("channel", "team")
    list_select_related = ("team", "prospect", "owner")
    search_fields = ("subject", "prospect__emails__email", "prospect__phones__number")
    raw_id_fields = ("prospect", "owner", "enrollment", "virtual_number")
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    # The columns that fit at 1366 px beside the nav sidebar and the filters (the id is in the
    # link, the channel and direction share a column).
    list_display = ("created_at", "team", "kind", "from_address", "subject", "status", "attempts")
    list_display_links = ("created_at",)
    list_filter = ("channel", "direction", "status", "team")
    list_select_related = ("team",)
    search_fields = ("message_id", "provider_message_id", "from_address", "subject")
    raw_id_fields = ("thread", "sender", "enrollment", "sequence_step")
    readonly_fields = ("created_at", "sent_at", "received_at", "claimed_at")
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="Message", ordering="channel")
    def kind(self, obj):
        return f"{obj.get_channel_display()}, {obj.get_direction_display().lower()}"


@admin.register(UnmatchedInbound)
class UnmatchedInboundAdmin(admin.ModelAdmin):
    """Inbound mail and SMS that matched no thread: support decides what to do with it."""

    list_display = ("received_at", "channel", "reason", "from_address", "subject", "resolved_at")
    list_filter = ("channel", "reason", ("resolved_at", admin.EmptyFieldListFilter))
    search_fields = ("from_address", "subject", "message_id", "provider_message_id")
    readonly_fields = [
        f.name for f in UnmatchedInbound._meta.fields if f.name not in ("id", "resolved_at")
    ]
    actions = ("mark_resolved",)
    date_hierarchy = "received_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    @admin.action(description="Mark as resolved")
    def mark_resolved(self, request, queryset):
        count = queryset.filter(resolved_at=None).update(resolved_at=timezone.now())
        self.message_user(request, f"{count} marked as resolved.")
