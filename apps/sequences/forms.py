from datetime import timedelta
from typing import cast

from django import forms

from apps.core.text import validate_no_control_characters

from .models import Prospect, SequenceStep, validate_address_list
from .placeholders import validate_placeholders


class ProspectForm(forms.Form):
    first_name = forms.CharField(max_length=100, validators=[validate_no_control_characters])
    last_name = forms.CharField(
        max_length=100, required=False, validators=[validate_no_control_characters]
    )
    email = forms.EmailField(required=False)
    phone = forms.CharField(
        max_length=30, required=False, help_text="International format, e.g. +14155550100."
    )


class SequenceCreateForm(forms.Form):
    name = forms.CharField(max_length=200, validators=[validate_no_control_characters])


class SequenceSettingsForm(forms.Form):
    name = forms.CharField(max_length=200, validators=[validate_no_control_characters])
    bcc = forms.CharField(
        label="BCC",
        max_length=500,
        required=False,
        validators=[validate_address_list],
        help_text="Comma-separated. A change applies only to prospects enrolled afterwards.",
    )
    is_active = forms.BooleanField(
        label="Active", required=False, help_text="Paused sequences send no steps."
    )


class StepForm(forms.Form):
    UNITS = {"minutes": 60, "hours": 3600, "days": 86400}

    channel = forms.ChoiceField(choices=SequenceStep.Channel.choices)
    delay_amount = forms.IntegerField(
        label="Wait", min_value=0, max_value=10_000, initial=0, help_text="After the step before."
    )
    delay_unit = forms.ChoiceField(label="Unit", choices=[(u, u) for u in UNITS], initial="days")
    subject_template = forms.CharField(
        label="Subject",
        max_length=500,
        required=False,
        validators=[validate_placeholders, validate_no_control_characters],
        help_text="Email only; later email steps reply in the same thread.",
    )
    body_template = forms.CharField(
        label="Body",
        widget=forms.Textarea(attrs={"rows": 6}),
        validators=[validate_placeholders],
        help_text="Placeholders: {{ first_name }}, {{ last_name }}, {{ full_name }}, "
        "{{ sender_first_name }}.",
    )

    @property
    def delay(self) -> timedelta:
        data = self.cleaned_data
        return timedelta(seconds=data["delay_amount"] * self.UNITS[data["delay_unit"]])


class EnrollForm(forms.Form):
    prospects = forms.ModelMultipleChoiceField(
        queryset=Prospect.objects.none(), widget=forms.CheckboxSelectMultiple
    )
    # Set by the page that showed the warnings to the selection they were about: posting the same
    # selection again means "I read them, go ahead"; a changed selection is checked again.
    confirmed_for = forms.CharField(required=False, widget=forms.HiddenInput)

    @staticmethod
    def selection_key(prospects) -> str:
        return ",".join(str(pk) for pk in sorted(p.pk for p in prospects))

    def __init__(self, *args, prospects, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelMultipleChoiceField, self.fields["prospects"]).queryset = prospects
