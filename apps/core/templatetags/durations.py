from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def duration_words(value: timedelta | None) -> str:
    """timedelta(hours=3, minutes=20) -> "3 h 20 min"; at most two units, rounded up to a minute."""
    if value is None:
        return ""
    if value.total_seconds() <= 0:
        return "no wait"
    minutes = max(1, -(-int(value.total_seconds()) // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if minutes and not days:
        parts.append(f"{minutes} min")
    return " ".join(parts[:2])
