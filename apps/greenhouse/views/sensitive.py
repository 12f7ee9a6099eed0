"""The review of sensitive mail (review.py): the list, one message's review and its actions,
and the team admin's rules on the sync settings page.

A recruiter sees and decides the reviews of their own prospects (or threads), a team admin the
whole team's; anything else answers 404, as another team's does. GET shows; approve, edit and
drop are POSTs with CSRF.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.teams.access import team_admin_required, team_member_required

from .. import selectors
from ..forms import ReviewRulesForm
from ..models import ReviewExpiry, ReviewRules, SensitiveReview
from ..sensitive_review import (
    RulesChange,
    message_text,
    reviews_visible_to,
    sensitive_review_approve,
    sensitive_review_drop,
    team_review_rules_set,
)

REVIEWS_SHOWN = 200


def _review_or_404(request, pk) -> SensitiveReview:
    return get_object_or_404(reviews_visible_to(membership=request.membership), pk=pk)


def _on_expiry(review: SensitiveReview) -> str:
    choice = (
        ReviewRules.objects.filter(integration__team_id=review.team_id)
        .values_list("on_expiry", flat=True)
        .first()
    )
    if choice == ReviewExpiry.WRITE:
        return "it is written to Greenhouse as it is"
    return "it is skipped: nothing is written"


@team_member_required
def reviews(request):
    shown = reviews_visible_to(membership=request.membership).order_by("state", "-created_at")
    return render(
        request,
        "greenhouse/sensitive_reviews.html",
        {"reviews": list(shown[:REVIEWS_SHOWN]), "is_admin": request.membership.is_admin},
    )


def _review_page(request, review: SensitiveReview, form=None, status=200):
    message = review.record.message
    return render(
        request,
        "greenhouse/sensitive_review.html",
        {
            "review": review,
            "message": message,
            "text": message_text(message),
            "on_expiry": _on_expiry(review),
            "form": form,
        },
        status=status,
    )


@team_member_required
def review_detail(request, pk):
    return _review_page(request, _review_or_404(request, pk))


@require_POST
@team_member_required
def review_approve(request, pk):
    review = _review_or_404(request, pk)
    text = request.POST.get("edited_text", "")
    if "edited_text" in request.POST and not text.strip():
        messages.error(request, "The note's text is empty: write what it should say, or drop it.")
        return redirect("greenhouse:sensitive-review", pk=review.pk)
    try:
        sensitive_review_approve(review=review, by=request.user, edited_text=text)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("greenhouse:sensitive-review", pk=review.pk)
    review.refresh_from_db()
    edited = " with your edited text" if review.edited_text else ""
    messages.success(request, f"Approved: the note is written to Greenhouse{edited}.")
    return redirect("greenhouse:sensitive-review", pk=review.pk)


@require_POST
@team_member_required
def review_drop(request, pk):
    review = _review_or_404(request, pk)
    try:
        sensitive_review_drop(review=review, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Dropped: this message is never written to Greenhouse.")
    return redirect("greenhouse:sensitive-review", pk=review.pk)


def review_rules_form(integration, data=None) -> ReviewRulesForm | None:
    """The rules' form for the sync settings page (None before support enables sync)."""
    if integration is None or not integration.sync_enabled_by_support:
        return None
    rules = ReviewRules.objects.filter(integration=integration).first()
    return ReviewRulesForm(data, initial=ReviewRulesForm.initial_for(rules))


@require_POST
@team_admin_required
def review_rules(request):
    integration = selectors.greenhouse_integration_for_team(team_id=request.team.pk)
    form = review_rules_form(integration, request.POST)
    if form is None or integration is None:
        messages.error(request, "Support has not enabled Greenhouse sync for your team yet.")
        return redirect("greenhouse:settings")
    if form.is_valid():
        data = form.cleaned_data
        change = RulesChange(
            enabled=data["enabled"],
            terms=(data["terms"] or "").strip(),
            review_hours=data["review_hours"],
            on_expiry=data["on_expiry"],
        )
        try:
            team_review_rules_set(integration=integration, change=change, by=request.user)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "Review rules saved.")
            return redirect("greenhouse:settings")
    for field_errors in form.errors.values():
        for error in field_errors:
            messages.error(request, f"Review rules not saved: {error}")
    return redirect("greenhouse:settings")
