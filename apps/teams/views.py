from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from .access import team_admin_required
from .forms import DefaultBccForm
from .previews import team_default_bcc_preview
from .services import team_default_bcc_set


def _bcc_error(form: DefaultBccForm, exc: ValidationError) -> None:
    form.add_error("custom", exc.message_dict.get("default_bcc", exc.messages))


@team_admin_required
def team_settings(request):
    """The team's default BCC. A change is previewed first (what existing sequences keep, what
    new ones get) and saved only with the preview's Confirm (a `confirm` field)."""
    team = request.team
    preview = None
    if request.method == "POST":
        form = DefaultBccForm(request.POST)
        if form.is_valid():
            try:
                preview = team_default_bcc_preview(team=team, default_bcc=form.default_bcc)
                if preview.new == team.default_bcc or request.POST.get("confirm"):
                    team_default_bcc_set(team=team, default_bcc=form.default_bcc)
                    messages.success(
                        request, "Default BCC saved. It applies to sequences created from now on."
                    )
                    return redirect("teams:settings")
            except ValidationError as exc:
                preview = None
                _bcc_error(form, exc)
    else:
        form = DefaultBccForm(initial=DefaultBccForm.initial_for(team.default_bcc))
    return render(request, "teams/settings.html", {"team": team, "form": form, "preview": preview})
