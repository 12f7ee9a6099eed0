"""A reply's new text, per mail client: tests/fixtures/replies/ (see its README) holds real-shaped
replies from Gmail, Outlook (desktop, 365, web, iOS), Apple Mail (macOS, iPhone), Thunderbird
and Yahoo, in English, German, French and Spanish, each with the text its note must carry."""

from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from apps.core.text import html_to_text
from apps.messaging.replies import LONGEST_SCAN, Reply, reply_split, reply_text

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "replies"
CASES = sorted(CORPUS.glob("*.eml"))


def parts(path: Path) -> tuple[str, str]:
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    return (text.get_content() if text else "", html.get_content() if html else "")


def test_the_corpus_covers_the_clients_and_languages():
    names = [c.stem for c in CASES]
    assert len(names) >= 20
    for client in ("gmail", "outlook", "apple", "iphone", "thunderbird", "yahoo"):
        assert any(client in n for n in names), client
    for language in ("german", "french", "spanish"):
        assert any(language in n for n in names), language
    assert all(c.with_suffix(".expected.txt").exists() for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.stem)
def test_a_client_shape_gives_its_new_text(case):
    text, html = parts(case)
    expected = case.with_suffix(".expected.txt").read_text(encoding="utf-8").strip()
    assert reply_text(text, html) == expected


HTML_ONLY = [c for c in CASES if not parts(c)[0].strip()]


def test_the_corpus_has_html_only_replies():
    assert {c.stem for c in HTML_ONLY} >= {
        "08_outlook_web_html_only",
        "21_gmail_html_only",
        "22_outlook_desktop_html_only",
    }


@pytest.mark.parametrize("case", HTML_ONLY, ids=lambda c: c.stem)
def test_a_stored_html_only_message_reads_the_same(case):
    """Inbound mail without a text part is stored with body_text = html_to_text(html): the
    parser still reads the HTML's quotes, so the note is the same as from the raw message."""
    _, html = parts(case)
    expected = case.with_suffix(".expected.txt").read_text(encoding="utf-8").strip()
    assert reply_text(html_to_text(html), html) == expected


def test_cut_says_whether_anything_was_left_out():
    assert reply_split("Sounds good.\n\n> Hi Grace\n", "").cut is True
    assert reply_split("Sounds good.\n", "").cut is False
    text, html = parts(CORPUS / "17_no_quote.eml")
    assert reply_split(text, html).cut is False


def test_empty_input_is_empty_and_not_cut():
    assert reply_split("", "") == reply_split("  \n", "") == reply_split("", " ")
    assert reply_split("", "").text == ""
    assert reply_split("", "").cut is False


def test_only_a_quote_keeps_the_whole_message():
    text = "On Mon, Jul 13, 2026 at 4:02 PM Rob <rob@acme.example> wrote:\n> Hi Grace\n"
    assert reply_split(text, "").text == text.strip()
    assert reply_split(text, "").cut is False
    assert reply_text("> only quoted\n> lines\n") == "> only quoted\n> lines"
    assert reply_text("-- \nGrace Hopper\n") == "-- \nGrace Hopper"  # only a signature


def test_an_inline_reply_keeps_its_questions_and_answers():
    text = (
        "Rob Recruiter <rob@acme.example> wrote:\n"
        "> Relocation?\n"
        "No.\n"
        "> Notice period?\n"
        "Three months.\n"
        "> Rob\n"
    )
    kept = reply_text(text)
    assert "> Relocation?\nNo.\n> Notice period?\nThree months." in kept
    assert not kept.endswith("> Rob")


def test_an_inline_reply_in_html_only_keeps_its_answers():
    html = (
        '<div class="gmail_quote"><div class="gmail_attr">On Mon, Jul 13, 2026 at 4:02 PM Rob '
        "&lt;rob@acme.example&gt; wrote:</div>"
        "<blockquote class=gmail_quote>Relocation?</blockquote><div>No, remote only.</div>"
        "<blockquote class=gmail_quote>Notice period?</blockquote><div>Three months.</div>"
        "<blockquote class=gmail_quote>Rob</blockquote></div>"
    )
    kept = reply_text("", html)
    assert "> Relocation?" in kept and "No, remote only." in kept
    assert kept.index("> Notice period?") < kept.index("Three months.")
    assert not kept.rstrip().endswith("Rob")


def test_a_bottom_posted_reply_keeps_the_text_below_the_quote():
    text = "On 13/07/2026 16:02, Rob Recruiter wrote:\n> Hi Grace, chat?\n\nYes, Tuesday.\n"
    assert reply_text(text) == "Yes, Tuesday."
    signed = text + "\n-- \nGrace\n"
    assert reply_text(signed) == "Yes, Tuesday."


def test_a_line_right_above_a_wrapped_attribution_is_kept():
    text = (
        "Hello\n"
        '02.04.2012 14:20 пользователь "bob@example.com" <\n'
        "bob@example.com> написал:\n"
        "> Hi\n"
    )
    assert reply_text(text) == "Hello"


def test_look_alikes_in_the_new_text_are_kept():
    text = (
        "On Friday the team wrote: a lovely summary of your interview.\n"
        "From: Monday\nTo: Friday\n"
        "-- not a separator\n"
        "I was sent from my old team to this one.\n"
        "Sent from my iPhone\n"
        "That was a joke line above.\n"
    )
    assert reply_text(text) == text.strip()


def test_a_forwarded_message_is_content_and_kept():
    text = (
        "Here is the offer I mentioned.\n\n"
        "---------- Forwarded message ---------\n"
        "From: HR <hr@other.example>\nDate: Mon, 13 Jul 2026\nSubject: Offer\n\nDear Grace, ...\n"
    )
    # Below "Forwarded message", a From:/Date: block is what was forwarded, not history.
    assert reply_split(text, "").text == text.strip()
    assert reply_split(text, "").cut is False
    apple = "See below.\n\nBegin forwarded message:\n\n> From: HR <hr@other.example>\n> Hi\n"
    assert reply_text(apple) == apple.strip()


def test_windows_line_ends_are_read():
    text = "Yes.\r\n\r\nOn Mon, Jul 13, 2026 at 4:02 PM Rob <rob@acme.example> wrote:\r\n> Hi\r\n"
    assert reply_text(text) == "Yes."


def test_the_mobile_signature_goes_only_at_the_end():
    assert reply_text("Yes.\n\nSent from my iPhone\n") == "Yes."
    assert reply_text("Yes.\n\nEnvoyé de mon iPhone\n") == "Yes."
    assert reply_text("Yes.\n\nSent from my Galaxy\n\n> quoted\n") == "Yes."


def test_a_huge_body_is_read_only_at_its_top():
    huge = "word " * (LONGEST_SCAN // 5 + 1000)
    assert reply_split(huge, "") == Reply(huge.strip(), cut=False)
    quoted = "Yes.\n\n> " + huge
    assert reply_split(quoted, "") == Reply("Yes.", cut=True)
    # History found only past the part read stays in (the note shortens the body anyway).
    late = huge + "\n\nOn Mon, Jul 13, 2026 at 4:02 PM Rob <rob@acme.example> wrote:\n> Hi\n"
    assert reply_split(late, "") == Reply(late.strip(), cut=False)
