"""Team admins' exclusions page (issue 16, items 1 and 6): the lists of addresses and domains
whose mail is never synced, edited in two steps.

Why two steps: a change of the lists can skip messages already waiting to be written, and
Greenhouse has no way to take a note back, nor does a skipped message come back. So a valid
POST first shows what the change does ("N waiting messages will not be written", and which
entries) with the lists carried in the form, and only the confirming POST saves. Invalid lines
are errors that name the line, and every textarea keeps what was typed.
"""

from django.contrib import messages
from django.shortcuts import redirect, render

from apps.teams.access import team_admin_required

from ..exclusion_services import (
    exclusions_diff,
    exclusions_preview,
    team_exclusion_defaults,
    team_exclusion_history,
    team_exclusion_rules,
    team_exclusions_save,
    team_exclusions_saved,
    team_member_emails,
)
from ..exclusions import DEFAULT_AUTOMATED_SENDERS, MIXED_RECIPIENTS_RULE, PUBLIC_MAIL_DOMAINS
from ..forms import ExclusionsForm


def _page(request, form, *, status=200, preview=None, diff=None):
    team_id = request.team.pk
    saved = team_exclusions_saved(team_id=team_id)
    member_domains = sorted(
        {e.rpartition("@")[2].lower() for e in team_member_emails(team_id=team_id) if "@" in e}
    )
    return render(
        request,
        "greenhouse/exclusions.html",
        {
            "form": form,
            "saved": saved,
            "preview": preview,
            "diff": diff,
            "rule": MIXED_RECIPIENTS_RULE,
            "proposed": team_exclusion_defaults(team_id=team_id),
            "public_member_domains": [d for d in member_domains if d in PUBLIC_MAIL_DOMAINS],
            "default_senders": DEFAULT_AUTOMATED_SENDERS,
            "history": team_exclusion_history(team_id=team_id),
        },
        status=status,
    )


@team_admin_required
def exclusions(request):
    """GET: the lists (the proposed defaults until the first save). POST: check the lists and
    show what saving them does; POST with `confirm`: save them; POST with `edit`: back to the
    form with the lists as typed."""
    if request.method != "POST":
        rules = team_exclusion_rules(team_id=request.team.pk)
        return _page(request, ExclusionsForm(initial=ExclusionsForm.initial_for(rules)))
    form = ExclusionsForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    rules = form.rules()
    if "edit" in request.POST:
        return _page(request, form)
    if "confirm" not in request.POST:
        current = team_exclusion_rules(team_id=request.team.pk)
        added, removed = exclusions_diff(current, rules)
        preview = exclusions_preview(team_id=request.team.pk, rules=rules)
        return _page(request, form, preview=preview, diff={"added": added, "removed": removed})
    change = team_exclusions_save(team=request.team, rules=rules, by=request.user)
    if change is None:
        messages.info(request, "The exclusions are as they were; nothing changed.")
    else:
        messages.success(request, f"Exclusions saved. {change.effect}")
    return redirect("greenhouse:exclusions")
