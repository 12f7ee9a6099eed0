"""Recruiter pages for prospects, sequences and enrollments. Team-scoped; POST for every change."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from apps.teams.access import get_for_team_or_404, team_member_required

from . import selectors, services
from .forms import EnrollForm, ProspectForm, SequenceCreateForm, SequenceSettingsForm, StepForm
from .models import Enrollment, Sequence


def _add_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _require_editor(request, sequence: Sequence) -> None:
    if sequence.owner_id != request.user.pk and not request.membership.is_admin:
        raise PermissionDenied("Only the sequence owner or a team admin can change it.")


# --- Prospects ----------------------------------------------------------------------------------


@team_member_required
def prospect_list(request):
    form = ProspectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            prospect = services.prospect_create(
                team=request.team, owner=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"{prospect} added.")
            return redirect("sequences:prospect-detail", pk=prospect.pk)
    prospects = selectors.prospect_list(team=request.team)
    return render(request, "sequences/prospect_list.html", {"prospects": prospects, "form": form})


@team_member_required
def prospect_detail(request, pk):
    # The conversations below come from the messaging app's "prospect.conversations" panel
    # (apps.core.extensions): this app does not import messaging.
    prospect = get_for_team_or_404(
        selectors.prospect_detail(team=request.team), request.team, pk=pk
    )
    return render(request, "sequences/prospect_detail.html", {"prospect": prospect})


# --- Sequences ----------------------------------------------------------------------------------


@team_member_required
def sequence_list(request):
    """My sequences (default) or everyone's in the team; "mine" also lists their enrollments."""
    show = "all" if request.GET.get("show") == "all" else "mine"
    form = SequenceCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            sequence = services.sequence_create(
                team=request.team, owner=request.user, name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            bcc = sequence.bcc or "none"
            messages.success(request, f"Sequence created with the team default BCC ({bcc}).")
            return redirect("sequences:sequence-detail", pk=sequence.pk)
    sequences = selectors.sequence_list(team=request.team)
    enrollments = None
    if show == "mine":
        sequences = sequences.filter(owner=request.user)
        enrollments = selectors.enrollments_of_owner(team=request.team, owner=request.user)[
            : selectors.MY_ENROLLMENTS_SHOWN
        ]
    return render(
        request,
        "sequences/sequence_list.html",
        {
            "sequences": sequences,
            "enrollments": enrollments,
            "enrollments_shown": selectors.MY_ENROLLMENTS_SHOWN,
            "show": show,
            "form": form,
            "team": request.team,
        },
        status=400 if form.errors else 200,
    )


@team_member_required
def sequence_detail(request, pk):
    sequence = get_for_team_or_404(Sequence.objects.select_related("owner"), request.team, pk=pk)
    settings_form = SequenceSettingsForm(
        initial={"name": sequence.name, "bcc": sequence.bcc, "is_active": sequence.is_active}
    )
    return _render_detail(request, sequence, settings_form=settings_form, step_form=StepForm())


def _render_detail(request, sequence, *, settings_form, step_form, status=200):
    context = {
        "sequence": sequence,
        "steps": sequence.steps.order_by("position"),
        "enrollments": selectors.sequence_enrollments(sequence=sequence),
        "settings_form": settings_form,
        "step_form": step_form,
        "can_edit": sequence.owner_id == request.user.pk or request.membership.is_admin,
    }
    return render(request, "sequences/sequence_detail.html", context, status=status)


@require_POST
@team_member_required
def sequence_edit(request, pk):
    sequence = get_for_team_or_404(Sequence.objects.all(), request.team, pk=pk)
    _require_editor(request, sequence)
    form = SequenceSettingsForm(request.POST)
    if form.is_valid():
        old_bcc = sequence.bcc
        try:
            services.sequence_update(sequence=sequence, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            note = ""
            if sequence.bcc != old_bcc:
                note = " The new BCC applies to prospects enrolled from now on."
            messages.success(request, "Sequence saved." + note)
            return redirect("sequences:sequence-detail", pk=sequence.pk)
    return _render_detail(request, sequence, settings_form=form, step_form=StepForm(), status=400)


@require_POST
@team_member_required
def step_add(request, pk):
    sequence = get_for_team_or_404(Sequence.objects.all(), request.team, pk=pk)
    _require_editor(request, sequence)
    form = StepForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.sequence_step_create(
                sequence=sequence,
                channel=data["channel"],
                delay=form.delay,
                subject_template=data["subject_template"],
                body_template=data["body_template"],
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Step added.")
            return redirect("sequences:sequence-detail", pk=sequence.pk)
    settings_form = SequenceSettingsForm(
        initial={"name": sequence.name, "bcc": sequence.bcc, "is_active": sequence.is_active}
    )
    return _render_detail(
        request, sequence, settings_form=settings_form, step_form=form, status=400
    )


@team_member_required
def sequence_enroll(request, pk):
    """GET: pick prospects. POST: run the preflight checks; with warnings, show them and ask for
    confirmation (the selection is carried over); without, or once confirmed, enroll."""
    sequence = get_for_team_or_404(Sequence.objects.all(), request.team, pk=pk)
    candidates = selectors.prospects_not_enrolled(sequence=sequence)
    form = EnrollForm(request.POST or None, prospects=candidates)
    warnings = []
    if request.method == "POST" and form.is_valid():
        prospects = list(form.cleaned_data["prospects"])
        warnings = services.enrollment_preflight(sequence=sequence, prospects=prospects)
        selection = EnrollForm.selection_key(prospects)
        if not warnings or form.cleaned_data["confirmed_for"] == selection:
            try:
                result = services.prospects_enroll(
                    sequence=sequence, prospects=prospects, enrolled_by=request.user
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                bcc = sequence.bcc or "none"
                enrolled, already = len(result.enrolled), len(result.already_enrolled)
                msg = ngettext(
                    "Enrolled %(n)d prospect with BCC %(bcc)s.",
                    "Enrolled %(n)d prospects with BCC %(bcc)s.",
                    enrolled,
                ) % {"n": enrolled, "bcc": bcc}
                if already:
                    msg += " " + ngettext(
                        "%(n)d was already enrolled.", "%(n)d were already enrolled.", already
                    ) % {"n": already}
                messages.success(request, msg)
                return redirect("sequences:sequence-detail", pk=sequence.pk)
        else:
            # Same selection, marked as confirmed: posting it unchanged enrolls.
            form = EnrollForm(
                initial={"prospects": prospects, "confirmed_for": selection}, prospects=candidates
            )
    return render(
        request,
        "sequences/enroll.html",
        {"sequence": sequence, "form": form, "warnings": warnings},
        status=400 if request.method == "POST" and form.errors else 200,
    )


@require_POST
@team_member_required
def enrollment_stop(request, pk):
    # Enrollment has no team column: it is scoped through its sequence.
    enrollment = get_object_or_404(
        Enrollment.objects.select_related("prospect"), pk=pk, sequence__team=request.team
    )
    stopped = services.enrollment_stop(
        enrollment=enrollment, reason=f"Stopped by {request.user.get_full_name() or request.user}."
    )
    if stopped:
        messages.success(request, f"{enrollment.prospect} will get no more steps.")
    else:
        messages.info(request, "That enrollment had already ended.")
    return redirect("sequences:sequence-detail", pk=enrollment.sequence_id)
