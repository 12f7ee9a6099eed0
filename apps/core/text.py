"""Text helpers shared by the apps."""

import html
import re

import nh3
from django.core.exceptions import ValidationError

_BLOCK_END = re.compile(r"</(p|div|li|tr|h[1-6]|blockquote|pre|table|ul|ol)\s*>", re.IGNORECASE)
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_text(value: str) -> str:
    """Sanitized HTML → plain text: tags (and script/style content) removed, line breaks kept."""
    value = re.sub(r"\s+", " ", value or "")  # source line breaks are not line breaks in HTML
    value = _BREAK.sub("<br>\n", value)
    value = _BLOCK_END.sub(lambda m: m.group(0) + "\n\n", value)
    text = nh3.clean(value, tags=set(), clean_content_tags={"script", "style", "head", "title"})
    text = html.unescape(text)
    lines = [line.strip() for line in text.replace("\xa0", " ").splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


# What an email header cannot carry: C0 and C1 control characters (CR and LF end a header line,
# so a name or subject holding them would start new headers: Bcc, a second Subject, a body) and
# the Unicode line and paragraph separators, which some mail software also takes for line breaks.
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_HEADER_UNSAFE_RUN = re.compile(r" *(?:[\x00-\x1f\x7f-\x9f\u2028\u2029]+ *)+")
CONTROL_CHARACTERS_MESSAGE = (
    "Line breaks, tabs and other control characters are not allowed here: this text goes "
    "into email headers (the subject or the sender's name)."
)


def has_control_characters(value: str | None) -> bool:
    return bool(_HEADER_UNSAFE.search(value or ""))


def validate_no_control_characters(value: str) -> None:
    """Validator for anything rendered into an email header: names, subjects, their templates."""
    if has_control_characters(value):
        raise ValidationError(CONTROL_CHARACTERS_MESSAGE, code="control_characters")


def header_safe(value: str | None) -> str:
    """`value` fit for an email header: each run of control characters (with the spaces around
    it) becomes one space.

    For values rendered from stored data (a name inside a subject); input is refused earlier by
    `validate_no_control_characters`, this keeps data stored before or around the forms safe.
    """
    return _HEADER_UNSAFE_RUN.sub(" ", value or "").strip()
