"""Extension points between apps, so that imports keep pointing one way.

The sequences and messaging apps never import the Greenhouse app, yet their pages show what it
knows (each message's sync status, the candidate's pause switch) and the nav links to its pages.
The app that knows registers here, in its AppConfig.ready(); the pages only ask here. Take an app
out of INSTALLED_APPS and its links and panels disappear; nothing else changes.

- `nav_item(...)`: a link in the top bar (section "main") or in the team settings tabs
  ("settings"), for one audience: "member" (anyone in a team), "admin" (team admins), "staff"
  (support staff) or "dev" (team members while DEV_TOOLS is on).
- `panel(slot)`: registers `fn(request, **objects) -> str` (HTML, or "" for nothing), rendered
  where a template says `{% panels "<slot>" prospect=prospect %}`.
- `annotator(slot)`: registers `fn(request, objects) -> {pk: HTML}`: extras for each row of a
  list, computed for the whole list at once (one query, not one per row).
- `membership_lookup(fn)`: the teams app registers `fn(user) -> membership or None`, so that
  core (the nav, the home page) knows a user's team and role without importing the teams app.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe

AUDIENCES = ("member", "admin", "staff", "dev")


@dataclass(frozen=True)
class NavItem:
    section: str
    label: str
    url_name: str
    audience: str
    order: int
    # Active on every page under this path (default: under the item's own URL).
    prefix: str = ""


_nav: list[NavItem] = []
_panels: dict[str, list[Callable]] = defaultdict(list)
_annotators: dict[str, list[Callable]] = defaultdict(list)
_membership_lookup: list[Callable] = []


def nav_item(
    *, section: str, label: str, url_name: str, audience: str, order: int, prefix: str = ""
) -> None:
    if audience not in AUDIENCES:
        raise ValueError(f"Unknown audience {audience!r}; one of {AUDIENCES}.")
    item = NavItem(section, label, url_name, audience, order, prefix)
    if item not in _nav:  # ready() may run more than once in tests
        _nav.append(item)


def panel(slot: str):
    def register(fn):
        if fn not in _panels[slot]:
            _panels[slot].append(fn)
        return fn

    return register


def annotator(slot: str):
    def register(fn):
        if fn not in _annotators[slot]:
            _annotators[slot].append(fn)
        return fn

    return register


def render_panels(slot: str, request, **objects) -> SafeString:
    html = [fn(request, **objects) for fn in _panels.get(slot, [])]
    return mark_safe("".join(h for h in html if h))  # noqa: S308 (each panel escapes its own HTML)


def annotate(slot: str, request, objects: Iterable) -> dict[int, SafeString]:
    """{pk: the extras of every registered annotator for that object}."""
    objects = list(objects)
    merged: dict[int, list[str]] = defaultdict(list)
    for fn in _annotators.get(slot, []):
        for pk, html in fn(request, objects).items():
            merged[pk].append(html)
    return {pk: format_html_join("", "{}", ((h,) for h in parts)) for pk, parts in merged.items()}


def membership_lookup(fn: Callable) -> Callable:
    _membership_lookup[:] = [fn]  # one lookup; ready() may run more than once in tests
    return fn


def membership_of(request):
    """The user's team membership, looked up once per request (None: not in a team, or no
    teams app installed)."""
    if hasattr(request, "membership"):
        return request.membership
    if not hasattr(request, "_membership_cache"):
        user = getattr(request, "user", None)
        lookup = _membership_lookup[0] if _membership_lookup else None
        request._membership_cache = lookup(user) if lookup is not None else None
    return request._membership_cache


class Nav:
    """What the current user may open, per section; computed only if a template asks."""

    def __init__(self, request):
        self.request = request

    def _allowed(self, audience: str) -> bool:
        user = getattr(self.request, "user", None)
        if user is None or not user.is_authenticated:
            return False
        if audience == "staff":
            return user.is_staff
        membership = membership_of(self.request)
        if membership is None:
            return False
        if audience == "admin":
            return membership.is_admin
        if audience == "dev":
            return settings.DEV_TOOLS
        return True

    def _items(self, section: str) -> list[dict]:
        items: list[dict[str, Any]] = []
        path = self.request.path
        for item in sorted((i for i in _nav if i.section == section), key=lambda i: i.order):
            if not self._allowed(item.audience):
                continue
            try:
                url = reverse(item.url_name)
            except NoReverseMatch:
                continue
            prefix = item.prefix or url
            items.append(
                {
                    "label": item.label,
                    "url": url,
                    "audience": item.audience,
                    "match": len(prefix) if prefix != "/" and path.startswith(prefix) else 0,
                }
            )
        # One active item: the one whose path matches the longest part of the current path.
        best = max((i["match"] for i in items), default=0)
        for i in items:
            i["active"] = best > 0 and i.pop("match") == best
            i.pop("match", None)
        return items

    @cached_property
    def main(self) -> list[dict]:
        return self._items("main")

    @cached_property
    def settings(self) -> list[dict]:
        return self._items("settings")
