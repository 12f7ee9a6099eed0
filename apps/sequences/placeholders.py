"""Placeholders in step templates: `{{ first_name }}` and a few others, nothing more.

Recruiters write these templates, so they are never given to a template engine: a regular
expression replaces whitelisted names with plain values. Anything else that looks like template
syntax (`{{ unknown }}`, `{{ first_name|upper }}`, `{% ... %}`) is rejected when the step is saved.
"""

import re

from django.core.exceptions import ValidationError

PLACEHOLDERS = {
    "first_name": "The prospect's first name",
    "last_name": "The prospect's last name",
    "full_name": "The prospect's first and last name",
    "sender_first_name": "The sending recruiter's first name",
}

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Whatever is left after removing valid placeholders must not look like template syntax.
_LEFTOVER_SYNTAX = re.compile(r"\{\{|\}\}|\{%|%\}")


def validate_placeholders(text: str) -> None:
    unknown = sorted({name for name in _PLACEHOLDER.findall(text) if name not in PLACEHOLDERS})
    if unknown:
        names = ", ".join(f"{{{{ {name} }}}}" for name in unknown)
        allowed = ", ".join(f"{{{{ {name} }}}}" for name in PLACEHOLDERS)
        raise ValidationError(f"Unknown placeholder {names}. Available: {allowed}.")
    if _LEFTOVER_SYNTAX.search(_PLACEHOLDER.sub("", text)):
        raise ValidationError(
            "Only simple placeholders such as {{ first_name }} are supported "
            "(no filters, tags or unmatched braces)."
        )


def render_placeholders(text: str, values: dict[str, str]) -> str:
    """Replace each whitelisted placeholder with its value; unknown ones render as empty text.

    Templates are validated on save; an unknown name here means the template was stored some
    other way, and an empty string is safer than leaking template syntax to a prospect.
    """
    return _PLACEHOLDER.sub(
        lambda m: values.get(m.group(1), "") if m.group(1) in PLACEHOLDERS else "", text
    )


def placeholder_values(*, prospect, sender) -> dict[str, str]:
    sender_first = ""
    if sender is not None:
        sender_first = sender.first_name or sender.get_username()
    return {
        "first_name": prospect.first_name,
        "last_name": prospect.last_name,
        "full_name": prospect.full_name,
        "sender_first_name": sender_first,
    }
