"""One place decides how a status looks (apps/core/tones.py): each status enum says its tone,
`{% status_badge %}` renders it the same on every page, flash messages and cards use the same
words, and every badge's text passes WCAG AA (contrast of at least 4.5:1, their 12 px text)."""

import re

import pytest
from django.conf import settings
from django.contrib.messages.storage.base import Message as FlashMessage
from django.template import Context, Template
from django.urls import reverse

from apps.core.tones import TONES, TonedChoices
from apps.greenhouse.models import GreenhouseIntegration, SyncRecord
from apps.messaging.models import Message
from apps.sequences.models import Enrollment
from apps.sequences.services import prospects_enroll
from tests.fixtures.messaging import three_step_sequence

TONED = [Enrollment.Status, Message.Status, SyncRecord.Status, GreenhouseIntegration.Health]
CSS = settings.BASE_DIR / "static/css/app.css"


def _luminance(hex_colour: str) -> float:
    value = hex_colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def badge_colours(css: str) -> dict[str, tuple[str, str]]:
    """{tone: (text colour, background)} of `.badge` and `.badge.<tone>`, var(--x) resolved."""
    variables = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{3,6})", css))

    def resolve(value: str) -> str:
        value = value.strip()
        found = re.fullmatch(r"var\(--([\w-]+)\)", value)
        return variables[found.group(1)] if found else value

    rules = {}
    for selector, body in re.findall(r"\.badge(\.[\w-]+)?\s*\{([^}]*)\}", css):
        props = dict(
            (k.strip(), v) for k, v in (p.split(":", 1) for p in body.split(";") if ":" in p)
        )
        rules[selector.lstrip(".") or "badge"] = props
    base = rules.pop("badge")
    colours = {"badge": (resolve(base["color"]), resolve(base["background"]))}
    for tone, props in rules.items():
        colours[tone] = (
            resolve(props.get("color", base["color"])),
            resolve(props.get("background", base["background"])),
        )
    return colours


def test_contrast_formula():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_every_badge_passes_wcag_aa():
    colours = badge_colours(CSS.read_text())
    assert set(TONES) <= set(colours)  # a style for every tone word
    failing = {tone: round(contrast(fg, bg), 2) for tone, (fg, bg) in colours.items()}
    assert {tone: ratio for tone, ratio in failing.items() if ratio < 4.5} == {}


def test_the_css_check_catches_a_pale_badge():
    pale = CSS.read_text() + "\n.badge.pale { background:#ffffff; color:#999999; }\n"
    fg, bg = badge_colours(pale)["pale"]
    assert contrast(fg, bg) < 4.5


@pytest.mark.parametrize("enum", TONED)
def test_each_status_enum_has_tones_of_the_vocabulary(enum):
    assert issubclass(enum, TonedChoices)
    assert {member.tone for member in enum} <= set(TONES)
    assert set(enum.TONES) <= set(enum.values)  # no tone for a status that does not exist


def test_the_badge_tag_reads_the_enum():
    html = Template("{% load status %}{% status_badge value enum %}").render(
        Context({"value": "active", "enum": Enrollment.Status})
    )
    assert html == '<span class="badge info">Active</span>'
    html = Template('{% load status %}{% status_badge "gone" enum %}').render(
        Context({"enum": Enrollment.Status})
    )
    assert html == '<span class="badge muted">gone</span>'


def test_flash_messages_use_the_same_words():
    template = Template("{% load status %}{{ m|message_tone }}")
    for level, tone in [(25, "ok"), (30, "warn"), (40, "bad"), (20, "info")]:
        assert template.render(Context({"m": FlashMessage(level, "x")})) == tone


@pytest.mark.django_db
def test_an_active_enrollment_looks_the_same_on_every_page(client, world):
    sequence = three_step_sequence(team=world.team, owner=world.owner)
    prospects_enroll(sequence=sequence, prospects=[world.prospect], enrolled_by=world.owner)
    assert Enrollment.objects.get().status == Enrollment.Status.ACTIVE
    client.force_login(world.owner)
    pages = [
        reverse("sequences:sequence-list"),
        reverse("sequences:sequence-detail", args=[sequence.pk]),
        reverse("sequences:prospect-detail", args=[world.prospect.pk]),
    ]
    for url in pages:
        assert '<span class="badge info">Active</span>' in client.get(url).content.decode(), url
