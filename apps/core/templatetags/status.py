"""`{% status_badge value Enum %}`: the one way a status is shown as a badge. The enum decides the
tone (apps/core/tones.py); the label is the enum's. In a template the enum is reachable from the
object, e.g. `{% status_badge enrollment.status enrollment.Status %}` (Django's choices are not
called in templates)."""

from django import template
from django.utils.html import format_html

from apps.core.tones import DEFAULT_TONE, MESSAGE_TONES, tone_of

register = template.Library()


@register.simple_tag
def status_badge(value, enum, label=None):
    try:
        text = label if label is not None else enum(value).label
    except ValueError:
        text = value
    return format_html('<span class="badge {}">{}</span>', tone_of(enum, value), text)


@register.filter
def message_tone(message) -> str:
    """A flash message's tone, from its level ("success" -> "ok", ...)."""
    return MESSAGE_TONES.get(getattr(message, "level_tag", ""), DEFAULT_TONE)
