"""What changing the team's default BCC leaves as it is, said before it is saved (issue 16,
item 6).

The default is copied into each sequence when it is created and never linked afterwards
(services.sequence_create), so a new default changes no existing sequence: the preview names
what each of them keeps. The teams app owns the default and its settings page, but sits below
this app, so the page asks through the extension registry (panel "team.default_bcc.preview",
registered in apps.py) and never imports this module. A read only.
"""

from django.db.models import Count
from django.template.loader import render_to_string
from django.utils.translation import ngettext

from apps.teams.models import Team

from .models import Sequence


def sequences_bcc_kept(*, team: Team) -> list[tuple[str, int]]:
    """(a BCC, how many of the team's sequences have it), the most common first: every sequence,
    active or not, keeps its BCC when the default changes."""
    rows = (
        Sequence.objects.filter(team=team)
        .order_by()
        .values("bcc")
        .annotate(n=Count("pk"))
        .order_by("-n", "bcc")
    )
    return [(row["bcc"], row["n"]) for row in rows]


def bcc_kept_lines(kept: list[tuple[str, int]]) -> list[str]:
    if not kept:
        return ["The team has no sequence yet."]
    lines = []
    for bcc, n in kept:
        if bcc:
            text = ngettext(
                "%(n)d existing sequence keeps its BCC %(bcc)s.",
                "%(n)d existing sequences keep their BCC %(bcc)s.",
                n,
            )
        else:
            text = ngettext(
                "%(n)d existing sequence keeps no BCC.", "%(n)d existing sequences keep no BCC.", n
            )
        lines.append(text % {"n": n, "bcc": bcc})
    return lines


def default_bcc_preview_panel(request, *, team: Team) -> str:
    lines = bcc_kept_lines(sequences_bcc_kept(team=team))
    return render_to_string("sequences/_bcc_kept.html", {"lines": lines}, request=request)
