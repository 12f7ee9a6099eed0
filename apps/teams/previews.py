"""What changing the team's default BCC does, said before it is saved (issue 16, item 6).

The default is copied into each sequence when it is created and never linked afterwards
(sequences.services.sequence_create), so a new default changes no existing sequence: the
preview names what each of them keeps, and what new sequences get. A read only; the new value is
normalised exactly as the save normalises it (services.default_bcc_normalize).
"""

from dataclasses import dataclass

from django.db.models import Count
from django.utils.translation import ngettext

from apps.sequences.models import Sequence

from .models import Team
from .services import default_bcc_normalize


@dataclass(frozen=True)
class DefaultBccPreview:
    old: str
    new: str
    # (the BCC a group of existing sequences keeps, how many), the most common first.
    kept: list[tuple[str, int]]

    @property
    def existing(self) -> int:
        return sum(n for _, n in self.kept)

    @property
    def lines(self) -> list[str]:
        lines = []
        for bcc, n in self.kept:
            if bcc:
                text = ngettext(
                    "%(n)d existing sequence keeps its BCC %(bcc)s",
                    "%(n)d existing sequences keep their BCC %(bcc)s",
                    n,
                )
            else:
                text = ngettext(
                    "%(n)d existing sequence keeps no BCC",
                    "%(n)d existing sequences keep no BCC",
                    n,
                )
            lines.append(text % {"n": n, "bcc": bcc} + ".")
        if not self.kept:
            lines.append("The team has no sequence yet.")
        lines.append(f"New sequences get {self.new}." if self.new else "New sequences get no BCC.")
        lines.append("To change an existing sequence's BCC, edit that sequence.")
        return lines


def team_default_bcc_preview(*, team: Team, default_bcc: str) -> DefaultBccPreview:
    """Raises ValidationError for an address the save would refuse."""
    rows = (
        Sequence.objects.filter(team=team)
        .order_by()
        .values("bcc")
        .annotate(n=Count("pk"))
        .order_by("-n", "bcc")
    )
    return DefaultBccPreview(
        old=team.default_bcc,
        new=default_bcc_normalize(default_bcc),
        kept=[(row["bcc"], row["n"]) for row in rows],
    )
