"""Which reply parser gets the new text of real-shaped replies right: a side-by-side comparison.

Not a speed benchmark: it backs the choice of apps/messaging/replies.py over the libraries on
PyPI (docs/behaviour.md, "Reply notes"). Each message in tests/fixtures/replies/ is parsed by
every candidate; a case is right when the candidate's text equals the fixture's
`.expected.txt` (whitespace runs collapsed). The libraries are not dependencies of the project,
so this runs in a separate virtualenv that has them:

    python3 -m venv /work/venvs/clean
    /work/venvs/clean/bin/pip install mail-parser-reply email-reply-parser talon \
        django==5.2.19 nh3==0.3.8
    PYTHONPATH=$PWD /work/venvs/clean/bin/python bench/replies_compare.py

Every candidate gets the same input: the text part, or the HTML's text (apps.core.text.
html_to_text) when there is none, except talon, which also reads HTML; and the same fallback
the notes use: when a candidate returns nothing, the whole text counts as its answer.
A candidate that is not installed is reported as such.

A second corpus, not written by us, can be given: talon's own tests/fixtures/standard_replies
(Apache-2.0; Android, AOL, Apple Mail, Comcast, Gmail, Hotmail, iPhone, Outlook, Sparrow,
Thunderbird, Yahoo), checked out anywhere:

    git clone https://github.com/mailgun/talon /tmp/talon
    PYTHONPATH=$PWD /work/venvs/clean/bin/python bench/replies_compare.py \
        /tmp/talon/tests/fixtures/standard_replies

Its expected text is talon's (`<name>_reply_text`, else "Hello"). Talon keeps the signature
("-- " block, "Sent from my iPhone") in the reply, we cut it, so for this corpus signatures are
ignored on both sides: what is compared is whether the history was cut and the new text kept.
"""

import importlib.metadata
import re
import sys
from collections.abc import Callable
from email import policy
from email.parser import BytesParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apps.core.text import html_to_text  # noqa: E402
from apps.messaging.replies import _MOBILE_SIGNATURE, reply_text  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures" / "replies"


def _parts(path: Path) -> tuple[str, str]:
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    return (text.get_content() if text else "", html.get_content() if html else "")


def _plain(text: str, html: str) -> str:
    return text if text.strip() else html_to_text(html)


def _ours(text: str, html: str) -> str:
    return reply_text(text, html)


def _mail_parser_reply(text: str, html: str) -> str:
    from mailparser_reply import EmailReplyParser

    # Every language it ships, as a multilingual team would configure it.
    parser = EmailReplyParser(languages=["en", "de", "fr", "es", "it", "nl"])
    return parser.parse_reply(text=_plain(text, html)) or ""


def _email_reply_parser(text: str, html: str) -> str:
    from email_reply_parser import EmailReplyParser

    return EmailReplyParser.parse_reply(_plain(text, html)) or ""


def _talon(text: str, html: str) -> str:
    import talon
    from talon import quotations
    from talon.signature.bruteforce import extract_signature

    talon.init()
    if text.strip():
        reply = quotations.extract_from_plain(text)
    else:
        reply = html_to_text(quotations.extract_from_html(html))
    body, _signature = extract_signature(reply)
    return body or ""


CANDIDATES: list[tuple[str, str | None, Callable[[str, str], str]]] = [
    ("apps/messaging/replies.py", None, _ours),
    ("mail-parser-reply", "mail-parser-reply", _mail_parser_reply),
    ("email-reply-parser (Zapier)", "email-reply-parser", _email_reply_parser),
    ("talon (Mailgun)", "talon", _talon),
]


def _same(a: str, b: str) -> bool:
    return re.sub(r"\s+", " ", a).strip() == re.sub(r"\s+", " ", b).strip()


def _ours_expected(case: Path) -> str:
    return case.with_suffix(".expected.txt").read_text(encoding="utf-8")


def _talon_expected(case: Path) -> str:
    answer = case.with_name(case.stem + "_reply_text")
    return answer.read_text(encoding="utf-8") if answer.exists() else "Hello"


def _no_signature(text: str) -> str:
    """Without the "-- " block and the lines naming the sending device."""
    lines = text.splitlines()
    if "--" in [x.rstrip() for x in lines]:
        lines = lines[: [x.rstrip() for x in lines].index("--")]
    return "\n".join(x for x in lines if not _MOBILE_SIGNATURE.match(x.strip()))


def main(argv: list[str]) -> None:
    if argv:
        corpus, expected_of, loose = Path(argv[0]), _talon_expected, True
    else:
        corpus, expected_of, loose = CORPUS, _ours_expected, False
    cases = sorted(corpus.glob("*.eml"))
    print(f"{len(cases)} cases in {corpus}\n")
    for name, dist, parse in CANDIDATES:
        version = "project"
        if dist:
            try:
                version = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                print(f"{name}: not installed\n")
                continue
        wrong = []
        for case in cases:
            text, html = _parts(case)
            expected = expected_of(case)
            try:
                got = parse(text, html) or _plain(text, html)
            except Exception as error:  # a crash is a wrong answer, said as such
                got = f"<{type(error).__name__}: {error}>"
            if loose:
                got, expected = _no_signature(got), _no_signature(expected)
            if not _same(got, expected):
                wrong.append(case.stem)
        right = len(cases) - len(wrong)
        print(f"{name} {version}: {right}/{len(cases)} right")
        for stem in wrong:
            print(f"    wrong: {stem}")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
