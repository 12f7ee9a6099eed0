from typing import cast

from django import forms

from apps.sequences.models import ProspectPhone

from .models import Thread, VirtualPhoneNumber
from .outbound import SMS_MAX_LENGTH


class ReplyForm(forms.Form):
    body = forms.CharField(label="Your answer", widget=forms.Textarea(attrs={"rows": 5}))


class SmsForm(forms.Form):
    to_number = forms.ChoiceField(label="To")
    body = forms.CharField(
        label="Message", max_length=SMS_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 4})
    )

    def __init__(self, *args, numbers: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["to_number"]).choices = [(n, n) for n in numbers]


def _one_choice_selected(field: forms.Field, queryset) -> None:
    """A select with one possible answer starts with it selected (no empty first line)."""
    choice_field = cast(forms.ModelChoiceField, field)
    choice_field.queryset = queryset
    only = list(queryset[:2])
    if len(only) == 1:
        choice_field.empty_label = None
        choice_field.initial = getattr(only[0], choice_field.to_field_name or "pk")


class SimulateEmailReplyForm(forms.Form):
    thread = forms.ModelChoiceField(
        queryset=Thread.objects.none(),
        label="Email thread",
        error_messages={"required": "Choose the email thread the prospect replies to."},
    )
    from_address = forms.EmailField(
        required=False, help_text="Empty: the address the thread's last email went to."
    )
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), initial="Sounds good!")
    match_by = forms.ChoiceField(
        choices=[
            ("token", "Reply address (signed token)"),
            ("headers", "In-Reply-To / References only"),
            ("nothing", "Neither (lands in the unmatched list)"),
        ],
        error_messages={"required": "Choose how the reply finds its thread."},
    )

    def __init__(self, *args, threads, **kwargs):
        super().__init__(*args, **kwargs)
        _one_choice_selected(self.fields["thread"], threads)


class ProspectPhoneChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.prospect.full_name} · {obj.number}"


class SimulateSmsForm(forms.Form):
    from_phone = ProspectPhoneChoiceField(
        queryset=ProspectPhone.objects.none(),
        label="From prospect",
        error_messages={"required": "Choose the prospect who texts."},
    )
    to_number = forms.ModelChoiceField(
        queryset=VirtualPhoneNumber.objects.none(),
        label="To virtual number",
        to_field_name="number",
        error_messages={"required": "Choose the virtual number the prospect texts."},
    )
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), initial="Yes, call me!")

    def __init__(self, *args, numbers, phones, **kwargs):
        super().__init__(*args, **kwargs)
        _one_choice_selected(self.fields["from_phone"], phones)
        _one_choice_selected(self.fields["to_number"], numbers)
