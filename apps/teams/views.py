from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from .access import team_admin_required
from .forms import DefaultBccForm
from .services import team_default_bcc_set


@team_admin_required
def team_settings(request):
    team = request.team
    if request.method == "POST":
        form = DefaultBccForm(request.POST)
        if form.is_valid():
            try:
                team_default_bcc_set(team=team, default_bcc=form.default_bcc)
            except ValidationError as exc:
                form.add_error("custom", exc.message_dict.get("default_bcc", exc.messages))
            else:
                messages.success(
                    request, "Default BCC saved. It applies to sequences created from now on."
                )
                return redirect("teams:settings")
    else:
        form = DefaultBccForm(initial=DefaultBccForm.initial_for(team.default_bcc))
    return render(request, "teams/settings.html", {"team": team, "form": form})
