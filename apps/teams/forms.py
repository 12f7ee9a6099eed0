from django import forms

from .bcc import GREENHOUSE_MAILDROP, GREENHOUSE_MAILDROP_IVY


class DefaultBccForm(forms.Form):
    """The team default BCC: none, one of the Greenhouse Maildrop addresses, or a custom one."""

    NONE, CUSTOM = "none", "custom"
    CHOICES = [
        (NONE, "No BCC"),
        (GREENHOUSE_MAILDROP, GREENHOUSE_MAILDROP),
        (GREENHOUSE_MAILDROP_IVY, GREENHOUSE_MAILDROP_IVY),
        (CUSTOM, "Another address"),
    ]

    choice = forms.ChoiceField(choices=CHOICES, widget=forms.RadioSelect, label="Default BCC")
    custom = forms.CharField(
        required=False,
        max_length=500,
        label="Custom address",
        help_text="Comma-separated for several addresses.",
    )

    @classmethod
    def initial_for(cls, default_bcc: str) -> dict:
        if not default_bcc:
            return {"choice": cls.NONE}
        if default_bcc in (GREENHOUSE_MAILDROP, GREENHOUSE_MAILDROP_IVY):
            return {"choice": default_bcc}
        return {"choice": cls.CUSTOM, "custom": default_bcc}

    def clean(self):
        super().clean()
        data = self.cleaned_data
        choice = data.get("choice")
        if choice == self.CUSTOM and not data.get("custom", "").strip():
            self.add_error("custom", "Enter the address to BCC.")
        return data

    @property
    def default_bcc(self) -> str:
        choice = self.cleaned_data["choice"]
        if choice == self.NONE:
            return ""
        if choice == self.CUSTOM:
            return self.cleaned_data["custom"]
        return choice
