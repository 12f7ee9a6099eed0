"""Text helpers shared by the apps."""

import html
import re

import nh3

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
