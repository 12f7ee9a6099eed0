"""Reads shared by views and admin: team-scoped querysets with what their pages show."""

from django.db.models import Count, Prefetch, Q, QuerySet
from django.db.models.functions import Lower

from apps.teams.models import Team

from .models import Enrollment, Prospect, ProspectPhone, Sequence


def prospect_list(*, team: Team) -> QuerySet[Prospect]:
    return (
        Prospect.objects.filter(team=team)
        .select_related("owner")
        .prefetch_related("emails", "phones")
        .order_by("last_name", "first_name", "pk")
    )


def prospect_detail(*, team: Team) -> QuerySet[Prospect]:
    return Prospect.objects.filter(team=team).prefetch_related(
        "emails",
        Prefetch("phones", queryset=ProspectPhone.objects.order_by("number")),
        Prefetch(
            "enrollments",
            queryset=Enrollment.objects.select_related("sequence").order_by("-created_at"),
        ),
    )


def sequence_list(*, team: Team) -> QuerySet[Sequence]:
    return (
        Sequence.objects.filter(team=team)
        .select_related("owner")
        .annotate(
            step_count=Count("steps", distinct=True),
            active_count=Count(
                "enrollments",
                filter=Q(enrollments__status=Enrollment.Status.ACTIVE),
                distinct=True,
            ),
            enrollment_count=Count("enrollments", distinct=True),
        )
        .order_by("name", "pk")
    )


MY_ENROLLMENTS_SHOWN = 100


def enrollments_of_owner(*, team: Team, owner) -> QuerySet[Enrollment]:
    """Enrollments in the sequences `owner` owns, newest first (their "my sequences" page)."""
    return (
        Enrollment.objects.filter(sequence__team=team, sequence__owner=owner)
        .select_related("prospect", "sequence")
        .order_by("-created_at", "-pk")
    )


def sequence_enrollments(*, sequence: Sequence) -> QuerySet[Enrollment]:
    return (
        sequence.enrollments.select_related("prospect", "enrolled_by")
        .prefetch_related("prospect__emails")
        .order_by("-created_at", "-pk")
    )


def prospects_not_enrolled(*, sequence: Sequence) -> QuerySet[Prospect]:
    return prospect_list(team=sequence.team).exclude(enrollments__sequence=sequence)


NAME_SEARCH_MIN_LENGTH = 2


def prospects_by_name(term: str, *, team_id: int | None = None) -> QuerySet[Prospect]:
    """Prospects whose first or last name starts with `term`, case-insensitively; "grace hop"
    (or "hopper grace") matches first and last name together. Prefix matches on lower(name),
    which the indexes of migration 0005_prospect_name_search serve on PostgreSQL."""
    words = term.lower().split()
    if not words or len(" ".join(words)) < NAME_SEARCH_MIN_LENGTH:
        return Prospect.objects.none()
    prospects = Prospect.objects.annotate(first=Lower("first_name"), last=Lower("last_name"))
    if team_id is not None:
        prospects = prospects.filter(team_id=team_id)
    if len(words) == 1:
        match = Q(first__startswith=words[0]) | Q(last__startswith=words[0])
    else:
        head, rest = words[0], " ".join(words[1:])
        tail, front = words[-1], " ".join(words[:-1])
        match = Q(first__startswith=head, last__startswith=rest) | Q(
            last__startswith=front, first__startswith=tail
        )
        match |= Q(first__startswith=" ".join(words)) | Q(last__startswith=" ".join(words))
    return prospects.filter(match)
