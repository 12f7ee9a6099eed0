from django import forms
from django.contrib import admin
from django.utils import timezone

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
    list_display = ("number", "prospect", "team", "opted_out_at")
    list_filter = (("opted_out_at", admin.EmptyFieldListFilter),)
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

    def save_model(self, request, obj, form, change):
        # Like sequence_create: a new sequence starts with the team default BCC.
        if not change and not obj.bcc:
            obj.bcc = obj.team.default_bcc
        super().save_model(request, obj, form, change)


@admin.register(SequenceStep)
class SequenceStepAdmin(admin.ModelAdmin):
    list_display = ("sequence", "position", "channel", "delay")
    list_filter = ("channel",)
    list_select_related = ("sequence",)
    raw_id_fields = ("sequence",)


class EnrollmentAdminForm(forms.ModelForm):
    class Meta:
        model = Enrollment
        fields = ("sequence", "prospect", "status", "next_step_position", "next_step_due_at")

    def clean(self):
        super().clean()
        data = self.cleaned_data
        sequence, prospect = data.get("sequence"), data.get("prospect")
        if sequence and prospect and sequence.team_id != prospect.team_id:
            raise forms.ValidationError("The prospect and the sequence belong to different teams.")
        if not self.instance.pk and sequence and not sequence.steps.exists():
            raise forms.ValidationError("Add a step to the sequence before enrolling prospects.")
        return data


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    form = EnrollmentAdminForm
    list_display = (
        "prospect",
        "sequence",
        "status",
        "bcc",
        "next_step_position",
        "next_step_due_at",
        "stop_reason",
    )
    list_filter = ("status",)
    list_select_related = ("prospect", "sequence")
    search_fields = ("prospect__first_name", "prospect__last_name", "prospect__emails__email")
    raw_id_fields = ("sequence", "prospect", "enrolled_by")
    readonly_fields = ("bcc", "enrolled_by", "stop_reason", "created_at", "ended_at")

    def save_model(self, request, obj, form, change):
        if not change:
            # Like prospects_enroll: keep the sequence's BCC as it is now, start at step one.
            first = obj.sequence.steps.order_by("position").first()
            obj.bcc = obj.sequence.bcc
            obj.enrolled_by = request.user
            obj.next_step_position = first.position
            obj.next_step_due_at = obj.next_step_due_at or timezone.now() + first.delay
        super().save_model(request, obj, form, change)
