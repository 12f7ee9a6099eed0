"""How a status looks, decided in one place: each status enum says its `tone`, one word of
TONES, and badges, flash messages and cards use the same words as CSS classes
(static/css/app.css; the admin's static/css/admin.css has `tone-<word>`).

Core imports no domain app: an app's enum subclasses `TonedChoices` and lists its tones in a
`TONES` mapping (enum.nonmember), and `{% status_badge value Enum %}` (templatetags/status.py)
or `Enum(value).tone` reads them. A status with no tone listed is "muted".
"""

from django.db import models

TONES = ("ok", "info", "warn", "bad", "muted")
DEFAULT_TONE = "muted"

# Django's message levels in the same words (settings.MESSAGE_TAGS), so flash messages match.
MESSAGE_TONES = {
    "debug": "muted",
    "info": "info",
    "success": "ok",
    "warning": "warn",
    "error": "bad",
}


class TonedChoices(models.TextChoices):
    """A TextChoices whose members have a `tone`. Subclasses set
    `TONES = enum.nonmember({Member: "ok", ...})`."""

    @property
    def tone(self) -> str:
        return getattr(type(self), "TONES", {}).get(self.value, DEFAULT_TONE)


def tone_of(enum, value) -> str:
    """The tone of `value` (a member or its stored string) in `enum`; "muted" if unknown."""
    try:
        return enum(value).tone
    except (ValueError, AttributeError):
        return DEFAULT_TONE
