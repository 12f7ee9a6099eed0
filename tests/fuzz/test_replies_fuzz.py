"""The reply parser on generated replies: whatever the mix of attributions, quotes, headers,
signatures and text, a note never loses the whole message and never carries a line the
message does not have."""

from hypothesis import given
from hypothesis import strategies as st

from apps.core.text import html_to_text
from apps.messaging.replies import reply_split

PIECES = [
    "On Mon, Jul 13, 2026 at 4:02 PM Rob Recruiter <rob@acme.example> wrote:",
    "On Mon, Jul 13, 2026 at 4:02 PM Robert Recruiter <",
    "rob@acme.example> wrote:",
    "Am Mo., 13. Juli 2026 um 16:02 Uhr schrieb Rob <rob@acme.example>:",
    "Le lun. 13 juil. 2026 à 16:02, Rob <rob@acme.example> a écrit :",
    "-----Original Message-----",
    "________________________________",
    "From: Rob Recruiter <rob@acme.example>",
    "Sent: Monday, July 13, 2026 4:02 PM",
    "To: Grace",
    "Subject: Quick question",
    "---------- Forwarded message ---------",
    "-- ",
    "--",
    "Sent from my iPhone",
    "Get Outlook for iOS<https://aka.ms/o0ukef>",
    "> Hi Grace",
    ">",
    "> > older",
    "",
    "Yes, Tuesday works.",
    "Hi Rob,",
]
lines = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=40)), max_size=30)


@given(lines)
def test_a_reply_never_loses_everything_nor_gains_a_line(parts):
    text = "\n".join(parts)
    reply = reply_split(text, "")
    if text.strip():
        assert reply.text.strip()
    else:
        assert reply.text == ""
    source = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    for line in reply.text.split("\n"):
        assert line.strip() in source or not line.strip()
    if not reply.cut:
        assert " ".join(reply.text.split()) == " ".join(text.split())


@given(lines, st.booleans())
def test_html_with_any_quotes_never_loses_everything(parts, nested):
    body = "".join(
        f"<blockquote type=cite>{p}</blockquote>" if p.startswith(">") else f"<div>{p}</div>"
        for p in parts
    )
    html = f"<blockquote>{body}</blockquote>" if nested else body
    reply = reply_split("", html)
    assert bool(reply.text.strip()) == bool(html_to_text(html).strip())
    assert reply_split(html_to_text(html), html) == reply  # as stored: body_text from the HTML
