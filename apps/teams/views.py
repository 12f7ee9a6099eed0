from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from .access import team_admin_required
from .forms import DefaultBccForm
from .services import default_bcc_normalize, team_default_bcc_set


def _bcc_error(form: DefaultBccForm, exc: ValidationError) -> None:
    form.add_error("custom", exc.message_dict.get("default_bcc", exc.messages))


@team_admin_required
def team_settings(request):
    """The team's default BCC. A change is previewed first (what new sequences get; what the
    existing ones keep comes from the sequences app's panel) and saved only with the preview's
    Confirm (a `confirm` field). `new_bcc` is the value as the save will store it."""
    team = request.team
    new_bcc = None
    if request.method == "POST":
        form = DefaultBccForm(request.POST)
        if form.is_valid():
            try:
                new_bcc = default_bcc_normalize(form.default_bcc)
                if new_bcc == team.default_bcc or request.POST.get("confirm"):
                    team_default_bcc_set(team=team, default_bcc=form.default_bcc)
                    messages.success(
                        request, "Default BCC saved. It applies to sequences created from now on."
                    )
                    return redirect("teams:settings")
            except ValidationError as exc:
                new_bcc = None
                _bcc_error(form, exc)
    else:
        form = DefaultBccForm(initial=DefaultBccForm.initial_for(team.default_bcc))
    return render(request, "teams/settings.html", {"team": team, "form": form, "new_bcc": new_bcc})
