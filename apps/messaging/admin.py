from django.contrib import admin

from .models import Message, Thread, VirtualPhoneNumber


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
    list_display = (
        "id",
        "created_at",
        "team",
        "channel",
        "direction",
        "from_address",
        "subject",
        "status",
    )
    list_filter = ("channel", "direction", "status")
    list_select_related = ("team",)
    search_fields = ("message_id", "provider_message_id", "from_address", "subject")
    raw_id_fields = ("thread", "sender", "enrollment", "sequence_step")
    date_hierarchy = "created_at"
    show_full_result_count = False
