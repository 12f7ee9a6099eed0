from django.contrib import admin

from .models import Enrollment, Prospect, ProspectEmail, ProspectPhone, Sequence, SequenceStep


class ProspectEmailInline(admin.TabularInline):
    model = ProspectEmail
    extra = 0
    exclude = ("team",)


class ProspectPhoneInline(admin.TabularInline):
    model = ProspectPhone
    extra = 0
    exclude = ("team",)


@admin.register(Prospect)
class ProspectAdmin(admin.ModelAdmin):
    list_display = ("full_name", "team", "owner", "created_at")
    list_filter = ("team",)
    list_select_related = ("team", "owner")
    search_fields = ("first_name", "last_name", "emails__email", "phones__number")
    raw_id_fields = ("owner",)
    inlines = [ProspectEmailInline, ProspectPhoneInline]


@admin.register(ProspectEmail)
class ProspectEmailAdmin(admin.ModelAdmin):
    list_display = ("email", "prospect", "team", "is_primary")
    list_select_related = ("prospect", "team")
    search_fields = ("email",)
    raw_id_fields = ("prospect",)
    exclude = ("team",)


@admin.register(ProspectPhone)
class ProspectPhoneAdmin(admin.ModelAdmin):
    list_display = ("number", "prospect", "team")
    list_select_related = ("prospect", "team")
    search_fields = ("number",)
    raw_id_fields = ("prospect",)
    exclude = ("team",)


class SequenceStepInline(admin.StackedInline):
    model = SequenceStep
    extra = 0


@admin.register(Sequence)
class SequenceAdmin(admin.ModelAdmin):
    list_display = ("name", "team", "owner", "bcc", "is_active", "created_at")
    list_filter = ("is_active", "team")
    list_select_related = ("team", "owner")
    search_fields = ("name",)
    raw_id_fields = ("owner",)
    inlines = [SequenceStepInline]


@admin.register(SequenceStep)
class SequenceStepAdmin(admin.ModelAdmin):
    list_display = ("sequence", "position", "channel", "delay")
    list_filter = ("channel",)
    list_select_related = ("sequence",)
    raw_id_fields = ("sequence",)


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = (
        "prospect",
        "sequence",
        "status",
        "bcc",
        "next_step_position",
        "next_step_due_at",
    )
    list_filter = ("status",)
    list_select_related = ("prospect", "sequence")
    search_fields = ("prospect__first_name", "prospect__last_name", "prospect__emails__email")
    raw_id_fields = ("sequence", "prospect", "enrolled_by")
    readonly_fields = ("bcc", "created_at", "ended_at")
