"""Team admins' Greenhouse tabs of Team settings: the connection and its test, the sync
switches and visibility, the user mapping, the sync log and its retry.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from apps.core.crypto import SecretDecryptionError
from apps.sequences.models import Prospect
from apps.teams.access import get_for_team_or_404, team_admin_required
from apps.teams.models import Membership

from .. import maildrop, previews, selectors
from ..backfill_progress import backfill_offered_for_team, backfills_for_team
from ..checklist import greenhouse_setup_checklist
from ..connection import (
    greenhouse_connection_attempt_register,
    greenhouse_integration_create,
    greenhouse_integration_test_connection,
    greenhouse_integration_update,
    greenhouse_user_mapping_reset,
    greenhouse_user_mapping_set,
    greenhouse_user_mappings_refresh,
    greenhouse_user_mappings_refresh_on_connect,
    harvest_error_in_plain_words,
)
from ..forms import (
    PUBLIC_WARNING,
    ConnectionForm,
    SyncLogFilterForm,
    SyncSettingsForm,
    UserMappingForm,
    unknown_recipients_help,
)
from ..harvest.errors import HarvestError
from ..models import GreenhouseIntegration, NoteVisibility, SyncRecord
from ..switches import (
    sync_records_retry,
    team_maildrop_overlap_set,
    team_note_visibility_set,
    team_sms_transcript_set,
    team_sync_turn_off,
    team_sync_turn_on,
    team_unknown_recipients_set,
)
from .sensitive import review_rules_form


def _integration(request) -> GreenhouseIntegration | None:
    return selectors.greenhouse_integration_for_team(team_id=request.team.pk)


def _unmapped(integration: GreenhouseIntegration | None) -> list[selectors.MappingGap]:
    """Members whose notes Greenhouse attributes to the acting user: every tab warns of them."""
    if integration is None:
        return []
    return selectors.greenhouse_user_mapping_gaps(integration=integration)


def _test_and_report(request, integration: GreenhouseIntegration) -> bool:
    """Test the connection; once it works, look the team up by email (who wrote each note)."""
    check = greenhouse_integration_test_connection(integration=integration)
    if not check.ok:
        messages.error(request, check.message)
        return False
    lookup = greenhouse_user_mappings_refresh_on_connect(integration=integration)
    if lookup.ok:
        messages.success(request, f"{check.message} {lookup.message}")
    else:
        messages.success(request, check.message)
        messages.warning(request, lookup.message)
    return True


def _too_many_attempts(request) -> str:
    """A message when the team has saved or tested its connection too often this minute."""
    wait = greenhouse_connection_attempt_register(team=request.team)
    if not wait:
        return ""
    return (
        "Too many connection saves and tests for your team in the last minute; nothing was "
        f"changed or tested. Try again in {wait} s."
    )


def _connection_page(request, integration, form, status=200):
    unmapped = _unmapped(integration)
    return render(
        request,
        "greenhouse/connection.html",
        {
            "integration": integration,
            "form": form,
            "test_deadline": f"{settings.GREENHOUSE_CONNECTION_TEST_DEADLINE:g}",
            "unmapped": unmapped,
            "checklist": greenhouse_setup_checklist(
                team=request.team, integration=integration, unmapped=unmapped
            ),
        },
        status=status,
    )


@team_admin_required
def connection(request):
    """GET: the credential (secret never shown back). POST: save it, then test it at once, so a
    changed credential never sits unchecked while messages are held for it. The hosts are not
    the team's to choose; saves and tests are limited per team and minute."""
    integration = _integration(request)
    initial = {}
    if integration is not None:
        initial = {name: getattr(integration, name) for name in CONNECTION_FIELDS}
    form = ConnectionForm(request.POST or None, initial=initial, integration=integration)
    if request.method == "POST" and form.is_valid():
        if refused := _too_many_attempts(request):
            form.add_error(None, refused)
            return _connection_page(request, integration, form, status=429)
        data = form.cleaned_data
        fields = {name: data[name] for name in CONNECTION_FIELDS}
        try:
            if integration is None:
                integration = greenhouse_integration_create(
                    team=request.team, client_secret=data["client_secret"], **fields
                )
            else:
                integration = greenhouse_integration_update(
                    integration=integration, client_secret=data["client_secret"], **fields
                )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.info(request, "Connection saved.")
            _test_and_report(request, integration)
            return redirect("greenhouse:connection")
    return _connection_page(request, integration, form, status=400 if form.errors else 200)


def _skipped_message(skipped: int) -> str:
    return ngettext(
        "%(n)d waiting message will not be synced.",
        "%(n)d waiting messages will not be synced.",
        skipped,
    ) % {"n": skipped}


# What a team admin may change; the host is support's (Django admin).
CONNECTION_FIELDS = ("client_id", "acting_user_id")


@require_POST
@team_admin_required
def connection_test(request):
    integration = _integration(request)
    if integration is None:
        messages.error(request, "Enter the Greenhouse credential first.")
    elif refused := _too_many_attempts(request):
        messages.error(request, refused)
        form = ConnectionForm(
            initial={name: getattr(integration, name) for name in CONNECTION_FIELDS},
            integration=integration,
        )
        return _connection_page(request, integration, form, status=429)
    else:
        _test_and_report(request, integration)
    return redirect("greenhouse:connection")


# --- Team admins: the sync switches and the backlog ---------------------------------------------


@team_admin_required
def sync_settings(request):
    """The team's switches. Turning the sync off or changing the visibility is previewed first
    (previews.py) and saved only with the preview's Confirm (a `confirm` field); other changes
    save at once. Each change is appended to the switch history by switches.py."""
    integration = _integration(request)
    status = 200
    form = None
    if integration is not None and integration.sync_enabled_by_support:
        initial = {
            "sync_on": integration.sync_on,
            "note_visibility": integration.note_visibility,
            "maildrop_overlap": integration.maildrop_overlap,
            "unknown_recipients": integration.unknown_recipients,
            "waiting_days": integration.waiting_days,
            "sms_notes": "transcript" if integration.sms_transcript_quiet_seconds else "message",
            "sms_quiet_minutes": (integration.sms_transcript_quiet_seconds or 1800) // 60 or 1,
        }
        form = SyncSettingsForm(request.POST or None, initial=initial)
        if request.method == "POST":
            if form.is_valid():
                data = form.cleaned_data
                preview = _switch_preview(integration, data)
                if preview and not request.POST.get("confirm"):
                    # Nothing is saved: the page says what the save would do, and asks.
                    return _settings_page(
                        request, integration, form, preview=preview, confirm=_confirm_fields(data)
                    )
                try:
                    if data["note_visibility"] != integration.note_visibility:
                        team_note_visibility_set(
                            team=request.team, visibility=data["note_visibility"], by=request.user
                        )
                    overlap = data["maildrop_overlap"]
                    if overlap and overlap != integration.maildrop_overlap:
                        team_maildrop_overlap_set(
                            team=request.team, choice=overlap, by=request.user
                        )
                    unknown = data["unknown_recipients"] or integration.unknown_recipients
                    days = data["waiting_days"] or integration.waiting_days
                    if (unknown, days) != (
                        integration.unknown_recipients,
                        integration.waiting_days,
                    ):
                        team_unknown_recipients_set(
                            team=request.team, choice=unknown, waiting_days=days, by=request.user
                        )
                    if data["sms_notes"]:
                        minutes = (
                            data["sms_quiet_minutes"] if data["sms_notes"] == "transcript" else None
                        )
                        seconds = minutes * 60 if minutes else None
                        if seconds != integration.sms_transcript_quiet_seconds:
                            team_sms_transcript_set(
                                team=request.team, quiet_minutes=minutes, by=request.user
                            )
                    if data["sync_on"] and not integration.sync_on:
                        team_sync_turn_on(team=request.team, by=request.user)
                    elif not data["sync_on"] and integration.sync_on:
                        skipped = team_sync_turn_off(team=request.team, by=request.user)
                        if skipped:
                            messages.info(request, _skipped_message(skipped))
                except ValidationError as exc:
                    form.add_error(None, exc.messages)
                else:
                    messages.success(request, "Greenhouse sync settings saved.")
                    return redirect("greenhouse:settings")
            status = 400
    elif request.method == "POST":
        messages.error(
            request, "Support has not enabled Greenhouse sync for your team yet; nothing changed."
        )
        status = 400
    return _settings_page(request, integration, form, status=status)


def _switch_preview(integration: GreenhouseIntegration, data: dict) -> list[str]:
    """What the submitted switches would do, when a save affects messages or notes: turning
    the sync off, or changing the visibility (previews.py). Empty when no confirmation is due."""
    lines = []
    if not data["sync_on"] and integration.sync_on:
        lines += previews.sync_off_preview(team_id=integration.team_id).lines
    if data["note_visibility"] != integration.note_visibility:
        lines += previews.visibility_preview(
            integration=integration, visibility=data["note_visibility"]
        ).lines
    return lines


def _confirm_fields(data: dict) -> list[tuple[str, str]]:
    """The submitted choices as the Confirm form's hidden fields: it saves what was previewed."""
    fields = [("note_visibility", data["note_visibility"])]
    if data["sync_on"]:
        fields.append(("sync_on", "on"))
    if data["maildrop_overlap"]:
        fields.append(("maildrop_overlap", data["maildrop_overlap"]))
    return fields


def _settings_page(request, integration, form, *, status=200, preview=(), confirm=()):
    return render(
        request,
        "greenhouse/settings.html",
        {
            "preview": preview,
            "confirm_fields": confirm,
            "integration": integration,
            "state": selectors.sync_state(integration),
            "history": selectors.switch_history(integration=integration),
            "form": form,
            "public_warning": PUBLIC_WARNING,
            "public": NoteVisibility.PUBLIC,
            "backlog": selectors.sync_backlog(team_id=request.team.pk),
            "unmapped": _unmapped(integration),
            "maildrop_is_public": maildrop.MAILDROP_IS_PUBLIC,
            "maildrop_consequences": maildrop.CONSEQUENCES,
            "maildrop_to_keep_private": maildrop.TO_KEEP_EMAILS_PRIVATE,
            "maildrop_sequences": selectors.sequences_bcc_maildrop(team_id=request.team.pk),
            "backfill_offered": backfill_offered_for_team(integration=integration),
            "backfills": backfills_for_team(team_id=request.team.pk, limit=3),
            "unknown_recipients_help": unknown_recipients_help(),
            "review_form": review_rules_form(integration),
        },
        status=status,
    )


# --- Team admins: who is who in Greenhouse ------------------------------------------------------


@team_admin_required
def user_mappings(request):
    integration = _integration(request)
    members = list(
        Membership.objects.filter(team=request.team)
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "user__username")
    )
    mappings = {}
    if integration is not None:
        mappings = {m.user_id: m for m in integration.user_mappings.all()}
    rows = [(member, mappings.get(member.user_id)) for member in members]
    gaps = sum(1 for _, mapping in rows if mapping is None or mapping.greenhouse_user_id is None)
    return render(
        request,
        "greenhouse/user_mappings.html",
        {
            "integration": integration,
            "rows": rows,
            "gaps": gaps,
            "admin_source": "admin",
            "unmapped": _unmapped(integration),
        },
    )


@require_POST
@team_admin_required
def user_mappings_refresh(request):
    integration = _integration(request)
    if integration is None:
        messages.error(request, "Connect Greenhouse first: there is nobody to look up yet.")
        return redirect("greenhouse:users")
    try:
        mappings = greenhouse_user_mappings_refresh(integration=integration)
    except (HarvestError, SecretDecryptionError) as exc:
        messages.error(request, harvest_error_in_plain_words(exc, integration=integration))
    else:
        mapped = sum(1 for m in mappings if m.greenhouse_user_id)
        level = messages.success if mapped == len(mappings) else messages.warning
        level(request, f"Looked up by email: {mapped} of {len(mappings)} team members mapped.")
    return redirect("greenhouse:users")


def _member_or_404(request, user_id) -> Membership:
    members = Membership.objects.select_related("user")
    return get_object_or_404(members, team=request.team, user_id=user_id)


@require_POST
@team_admin_required
def user_mapping_set(request, user_id):
    member = _member_or_404(request, user_id)
    integration = _integration(request)
    form = UserMappingForm(request.POST)
    if integration is None:
        messages.error(request, "Connect Greenhouse first.")
    elif not form.is_valid():
        messages.error(request, f"{member.user}: enter a Greenhouse user ID (a positive number).")
    else:
        try:
            greenhouse_user_mapping_set(
                integration=integration,
                user=member.user,
                greenhouse_user_id=form.cleaned_data["greenhouse_user_id"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request,
                f"{member.user.get_full_name() or member.user}'s notes are written as Greenhouse "
                f"user {form.cleaned_data['greenhouse_user_id']}. Lookups by email keep this.",
            )
    return redirect("greenhouse:users")


@require_POST
@team_admin_required
def user_mapping_reset(request, user_id):
    member = _member_or_404(request, user_id)
    integration = _integration(request)
    if integration is not None:
        greenhouse_user_mapping_reset(integration=integration, user=member.user)
        messages.success(
            request,
            f"{member.user.get_full_name() or member.user} will be looked up by email again: "
            "press “Look up by email”.",
        )
    return redirect("greenhouse:users")


# --- Team admins: the sync log ------------------------------------------------------------------


@team_admin_required
def sync_log(request):
    form = SyncLogFilterForm(request.GET)
    form.is_valid()  # invalid filters are dropped, not refused
    data = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    filters = selectors.SyncLogFilters(
        status=data.get("status", ""),
        reason=data.get("reason", ""),
        channel=data.get("channel", ""),
        prospect_id=data.get("prospect"),
        q=data.get("q", ""),
    )
    page = selectors.sync_log_page(
        selectors.sync_log(team_id=request.team.pk, filters=filters), before=data.get("before")
    )
    prospect = None
    if filters.prospect_id:
        prospect = Prospect.objects.filter(team=request.team, pk=filters.prospect_id).first()
    kept = {k: v for k, v in data.items() if k != "before"}
    integration = _integration(request)
    return render(
        request,
        "greenhouse/sync_log.html",
        {
            "form": form,
            "page": page,
            "filtered": bool(kept),
            "prospect": prospect,
            "without_prospect": urlencode({k: v for k, v in kept.items() if k != "prospect"}),
            "next_query": urlencode({**kept, "before": page.next_before}),
            "first_query": urlencode(kept),
            "is_first_page": not data.get("before"),
            "backlog": selectors.sync_backlog(team_id=request.team.pk),
            "retryable": (SyncRecord.Status.FAILED, SyncRecord.Status.HELD),
            "integration": integration,
            "unmapped": _unmapped(integration),
        },
    )


@require_POST
@team_admin_required
def sync_record_retry(request, pk):
    record = get_for_team_or_404(SyncRecord.objects.all(), request.team, pk=pk)
    queued = sync_records_retry(records=SyncRecord.objects.filter(pk=record.pk))
    if queued:
        messages.success(
            request,
            "Queued again: it is written within a minute if Greenhouse accepts it (an earlier "
            "write, if any, is checked first).",
        )
    else:
        messages.info(request, "Only failed or held records can be retried; nothing changed.")
    # Back to the same filters: only a query string is taken, so it cannot lead elsewhere.
    back = request.POST.get("back", "").lstrip("?")
    return redirect(reverse("greenhouse:log") + (f"?{back}" if back else ""))
