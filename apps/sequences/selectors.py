"""Reads shared by views and admin: team-scoped querysets with what their pages show."""

from django.db.models import Count, Prefetch, Q, QuerySet

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
