"""The README's screenshots: every image it shows exists, is a PNG taken by the screenshot test
(so refreshing them refreshes all), and no stale PNG lies in docs/screenshots unshown."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SHOTS = ROOT / "docs" / "screenshots"
SCREENSHOT_TEST = ROOT / "tests" / "browser" / "test_screenshots.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _readme_images() -> list[str]:
    text = README.read_text()
    markdown = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text)
    html = re.findall(r"<img[^>]+src=\"([^\"]+)\"", text)
    return markdown + html


def test_every_image_the_readme_shows_exists_and_is_a_png():
    images = _readme_images()
    assert images, "the README shows no screenshot"
    for link in images:
        path = (ROOT / link).resolve()
        assert path.is_file(), f"README links {link}, which does not exist"
        assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{link} is not a PNG"


def test_the_readme_shows_what_the_screenshot_test_takes_and_nothing_stale():
    shown = {Path(link).stem for link in _readme_images() if link.startswith("docs/screenshots/")}
    taken = set(re.findall(r'shots\(page, "([a-z0-9-]+)"', SCREENSHOT_TEST.read_text()))
    on_disk = {path.stem for path in SHOTS.glob("*.png")}
    assert shown == taken, (
        f"shown but not taken: {shown - taken}; taken, not shown: {taken - shown}"
    )
    assert on_disk == shown, f"in docs/screenshots but not in the README: {on_disk - shown}"
