from django import forms

from .models import NoteVisibility

PUBLIC_WARNING = (
    "All private communication with candidates will start getting written to the Greenhouse "
    "activity feed as public notes, visible to everyone with access to that candidate in "
    "Greenhouse (usually including the candidate's interviewers). Tell the whole team."
)


class SyncSettingsForm(forms.Form):
    sync_on = forms.BooleanField(label="Sync email and SMS activity to Greenhouse", required=False)
    note_visibility = forms.ChoiceField(
        label="Visibility of the notes",
        choices=NoteVisibility.choices,
        widget=forms.RadioSelect,
    )
