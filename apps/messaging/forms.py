from typing import cast

from django import forms

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


class SimulateEmailReplyForm(forms.Form):
    thread = forms.ModelChoiceField(queryset=Thread.objects.none(), label="Email thread")
    from_address = forms.EmailField(
        required=False, help_text="Empty: the address the thread's last email went to."
    )
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), initial="Sounds good!")
    match_by = forms.ChoiceField(
        choices=[
            ("token", "Reply address (signed token)"),
            ("headers", "In-Reply-To / References only"),
            ("nothing", "Neither (lands in the unmatched list)"),
        ]
    )

    def __init__(self, *args, threads, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["thread"]).queryset = threads


class SimulateSmsForm(forms.Form):
    from_number = forms.CharField(
        max_length=20, help_text="The prospect's number, e.g. +14155550101."
    )
    to_number = forms.ModelChoiceField(
        queryset=VirtualPhoneNumber.objects.none(),
        label="To virtual number",
        to_field_name="number",
    )
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), initial="Yes, call me!")

    def __init__(self, *args, numbers, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["to_number"]).queryset = numbers
