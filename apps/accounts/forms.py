from django import forms


class SecondFactorForm(forms.Form):
    code = forms.CharField(
        label="Code from your authenticator app",
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_code(self):
        code = "".join(self.cleaned_data["code"].split())  # "123 456" as apps show it
        if not code.isdigit():
            raise forms.ValidationError("Enter the digits only, for example 123456.")
        return code
