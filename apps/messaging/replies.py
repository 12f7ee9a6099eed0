"""The new text of an email reply: without the quoted history and the signature block.

A Greenhouse note cannot be edited or deleted, and a reply that carries the whole thread
below it repeats every earlier message on the candidate's activity feed (issue 16, "clean
notes"). The note therefore carries only what the sender typed; the message itself is kept
whole in the app (Message.body_text / body_html are never changed).

Why our own parser: the candidates on PyPI were judged on the corpus in tests/fixtures/replies/
and on talon's own test replies (bench/replies_compare.py; the table, with versions and release
dates, is in docs/behaviour.md, "Reply notes"). Each of them cut the new text short on a reply
whose text has a "From: … / To: …" pair in it, missed Spanish, German-iPhone or Yahoo shapes, or
left "Get Outlook for iOS" in; Zapier's port was last released in 2020, talon's PyPI release in
2017 and it brings numpy, scipy and scikit-learn. The rules below are the few that real clients
follow, each one covered by a fixture:

- an attribution line, possibly wrapped over up to three lines: "On <date>, <name> wrote:"
  (Gmail, Apple Mail, Thunderbird, Yahoo), "Am … schrieb …:", "Le … a écrit :",
  "El … escribió:", "Il … ha scritto:", "Op … schreef …:", "Em … escreveu:";
- Outlook's header block: "From:" followed within four lines by "Sent:" / "Date:" (and their
  German, French, Spanish, Italian, Dutch, Portuguese and Nordic forms), with the rule line of
  underscores above it; and "-----Original Message-----" in its languages;
- a trailing block of "> " lines;
- below the new text: the "-- " signature separator (RFC 3676), "Sent from my iPhone" and
  the like, "Get Outlook for iOS".

An inline reply (answers between quoted blocks) keeps the quoted questions: only the quote
after the last answer is cut. A bottom-posted reply (one quoted block, the answer below it)
keeps the answer. HTML without a text part is read with its <blockquote>s as "> "
lines, so the same rules apply to it. Forwarded messages ("---------- Forwarded message")
are content, not history, and are kept. When cutting would leave nothing, the whole text is
kept: a note never loses the message.

Pure functions: no database, no settings.
"""

import re
from dataclasses import dataclass

from apps.core.text import html_to_text

# Attribution lines ("On … wrote:"), matched on up to three joined lines (Gmail wraps long
# names) that start with the word; "<addr> wrote:" also when text follows (Yahoo).
_ATTRIBUTION = re.compile(
    r"""^(?:
        On\b.{4,300}\bwrote:
      | On\b.{4,300}<\s?[^<>\s]+@[^<>\s]+>\)?\s*wrote:.*
      | Am\b.{4,300}\bschrieb\b.{0,300}:
      | Le\b.{4,300}\ba\s+écrit\s*:
      | El\b.{4,300}\bescribió\s*:
      | Il\b.{4,300}\bha\s+scritto\s*:
      | Op\b.{4,300}\bschreef\b.{0,300}:
      | (?:Em|Às|No\s+dia)\b.{4,300}\bescreveu\s*:
    )$""",
    re.VERBOSE | re.IGNORECASE,
)
# Clients that put the date first ("02.04.2012 14:20 пользователь … <a@x> написал:"): any
# start, but the sender's address in angle brackets before the verb.
_ATTRIBUTION_WITH_ADDRESS = re.compile(
    r"^.{0,300}<\s?[^<>\s]+@[^<>\s]+>\)?\s*\S{0,3}\s*"
    r"(?:wrote|написал[аи]?|schrieb|a\s+écrit|escribió|ha\s+scritto|schreef|escreveu|napisał[a]?"
    r"|skrev|kirjoitti)\s*:$",
    re.IGNORECASE,
)
_ATTRIBUTION_START = re.compile(r"^(?:On|Am|Le|El|Il|Op|Em|Às|No)\b", re.IGNORECASE)
_ORIGINAL_MESSAGE = re.compile(
    r"^-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original"
    r"|Messaggio originale|Oorspronkelijk bericht|Mensagem original|Originalmeddelande"
    r"|Oprindelig meddelelse|Opprinnelig melding)\s*-{2,}$",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^\*?(?:From|Von|De|Van|Da|Fra|Från|Od|Lähettäjä)\s*:\*?\s*\S")
_HEADER_SENT = re.compile(
    r"^\*?(?:Sent|Date|Gesendet|Datum|Envoyé|Enviado|Enviada|Fecha|Inviato|Data|Verzonden"
    r"|Sendt|Skickat|Lähetetty)\s*:",
)
_FORWARDED = re.compile(
    r"^(?:-{3,}\s*(?:Forwarded message|Original message forwarded|Weitergeleitete Nachricht"
    r"|Message transféré|Mensaje reenviado|Messaggio inoltrato|Doorgestuurd bericht)\s*-{3,}"
    r"|Begin forwarded message:|Anfang der weitergeleiteten Nachricht:"
    r"|Début du message réexpédié :|Inizio messaggio inoltrato:|Comienzo del mensaje reenviado:)$",
    re.IGNORECASE,
)
_RULE = re.compile(r"^_{10,}$")
_SIGNATURE_SEPARATOR = "--"  # "-- " (RFC 3676), its space often lost
_MOBILE_SIGNATURE = re.compile(
    r"^(?:Sent from (?:my )?[\w\-]+(?: [\w\-]+){0,4}"
    r"|Sent from Yahoo Mail.*|Sent from Outlook.*|Get Outlook for (?:iOS|Android).*"
    r"|Sent with Proton Mail.*|Von meinem [\w\-]+(?: [\w\-]+){0,2} gesendet"
    r"|Envoyé de mon [\w\-]+(?: [\w\-]+){0,2}|Enviado desde mi [\w\-]+(?: [\w\-]+){0,2}"
    r"|Inviato da(?:l mio)? [\w\-]+(?: [\w\-]+){0,2}|Verzonden vanaf mijn [\w\-]+)\s*$",
    re.IGNORECASE,
)

_QUOTE_PREFIX = re.compile(r"^(?:\s*>)+\s?")
_SPACES = re.compile(r"\s+")
# The new text is at the top: past this many characters a body is not read for history (a
# note keeps 45,000 anyway), which keeps a huge body from costing a worker seconds.
LONGEST_SCAN = 200_000
_LONGEST_ATTRIBUTION = 1000  # characters; a longer line is text, and the regexes stay cheap

_QUOTE_OPEN, _QUOTE_CLOSE = "\ue000", "\ue001"  # private-use: no mail text carries them
_BLOCKQUOTE_OPEN = re.compile(r"<blockquote\b[^>]*>", re.IGNORECASE)
_BLOCKQUOTE_CLOSE = re.compile(r"</blockquote\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class Reply:
    text: str  # what the note carries
    cut: bool  # whether quoted history or a signature was left out


def reply_text(text: str, html: str = "") -> str:
    """The new text of a reply (see the module docstring); the whole text when nothing is new."""
    return reply_split(text, html).text


def reply_split(text: str, html: str = "") -> Reply:
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    html = html or ""
    plain_of_html = html_to_text(html) if html.strip() else ""
    whole = text.strip() or plain_of_html
    if not whole:
        return Reply("", cut=False)
    if plain_of_html and (not text.strip() or text.strip() == plain_of_html):
        # No text part of its own (inbound keeps html_to_text(html) as body_text): read the
        # HTML with its quotes marked, so an inline reply is told from a top-posted one.
        source = _quoted_html_to_text(html)
    else:
        source = text
    lines = source[:LONGEST_SCAN].split("\n")
    new = _new_lines(lines)
    if len(source) > LONGEST_SCAN and "\n".join(new).strip() == "\n".join(lines).strip():
        return Reply(whole, cut=False)  # no history in the part read: the whole, as it was
    kept = "\n".join(line.rstrip() for line in new).strip()
    if not kept:
        return Reply(whole, cut=False)
    return Reply(kept, cut=_normal(kept) != _normal(whole))


def _normal(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip()


def _quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _unquote(line: str) -> str:
    return _QUOTE_PREFIX.sub("", line).strip()


def _new_lines(lines: list[str]) -> list[str]:
    """The lines of the new text: above the history, without the signature."""
    for index, line in enumerate(lines):
        stripped = _unquote(line) if _quoted(line) else line.strip()
        if _FORWARDED.match(stripped):
            return lines  # what follows was forwarded on purpose: content, not history
        if _ORIGINAL_MESSAGE.match(stripped) or _is_outlook_header(lines, index):
            return _without_signature(lines[: _above_rule(lines, index)])
        if not _is_attribution(lines, index):
            continue
        runs = _runs(lines[index + 1 :])
        if [quoted for quoted, _ in runs] == [True, False]:
            # Bottom-posted: one quoted block, the answer below it.
            above = _without_signature(lines[:index])
            below = _without_signature(runs[1][1])
            return [*above, "", *below] if any(s.strip() for s in above) else below
        if _inline(runs):
            continue  # answers between quoted blocks: kept; the trailing quote is cut below
        return _without_signature(lines[:index])
    trailing = _trailing_quote_start(lines)
    return _without_signature(lines[:trailing] if trailing is not None else lines)


def _runs(lines: list[str]) -> list[tuple[bool, list[str]]]:
    """The lines as runs of quoted and of unquoted text; blank lines join the run they are in."""
    runs: list[tuple[bool, list[str]]] = []
    for line in lines:
        if not line.strip():
            if runs:
                runs[-1][1].append(line)
            continue
        quoted = _quoted(line)
        if runs and runs[-1][0] == quoted:
            runs[-1][1].append(line)
        else:
            runs.append((quoted, [line]))
    return runs


def _inline(runs: list[tuple[bool, list[str]]]) -> bool:
    """New text between quoted blocks: an inline reply."""
    kinds = [quoted for quoted, _ in runs]
    return True in kinds and False in kinds[kinds.index(True) :]


def _is_attribution(lines: list[str], index: int) -> bool:
    first = lines[index]
    first = _unquote(first) if _quoted(first) else first.strip()
    if not first or len(first) > _LONGEST_ATTRIBUTION:
        return False
    starts = bool(_ATTRIBUTION_START.match(first))
    if not starts and not any("@" in line for line in lines[index : index + 3]):
        return False  # the date-first form names the sender's address
    joined = first
    for extra in range(3):
        if extra:
            if index + extra >= len(lines):
                break
            more = lines[index + extra]
            more = _unquote(more) if _quoted(more) else more.strip()
            if not more:  # an attribution is never wrapped across a blank line
                break
            joined = f"{joined} {more}"
        joined = _SPACES.sub(" ", joined)
        if len(joined) > _LONGEST_ATTRIBUTION:
            break
        if (starts and _ATTRIBUTION.match(joined)) or _ATTRIBUTION_WITH_ADDRESS.match(joined):
            # The shortest window: "Hello" right above a wrapped attribution is not part of it.
            return not (extra and _is_attribution(lines, index + 1))
    return False


def _is_outlook_header(lines: list[str], index: int) -> bool:
    if not _HEADER_FROM.match(lines[index].strip()):
        return False
    return any(_HEADER_SENT.match(line.strip()) for line in lines[index + 1 : index + 5])


def _above_rule(lines: list[str], index: int) -> int:
    """Outlook draws a rule of underscores above its header block: cut it too."""
    above = index
    while above > 0 and not lines[above - 1].strip():
        above -= 1
    if above > 0 and _RULE.match(lines[above - 1].strip()):
        return above - 1
    return index


def _trailing_quote_start(lines: list[str]) -> int | None:
    start = None
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if _quoted(line):
            start = index
        elif line.strip():
            break
    return start


def _without_signature(lines: list[str]) -> list[str]:
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].rstrip() == _SIGNATURE_SEPARATOR:
            lines = lines[:index]
            break
    while True:
        end = len(lines)
        while end and not lines[end - 1].strip():
            end -= 1
        last = lines[end - 1].strip() if end else ""
        if end and (_MOBILE_SIGNATURE.match(last) or _RULE.match(last)):
            lines = lines[: end - 1]
            continue
        return lines[:end]


def _quoted_html_to_text(html: str) -> str:
    """html_to_text, with the text inside each <blockquote> prefixed "> " per level."""
    marked = _BLOCKQUOTE_OPEN.sub(f"<br>{_QUOTE_OPEN}<br>", html)
    marked = _BLOCKQUOTE_CLOSE.sub(f"<br>{_QUOTE_CLOSE}<br>", marked)
    depth = 0
    out: list[str] = []
    for line in html_to_text(marked).split("\n"):
        opens, closes = line.count(_QUOTE_OPEN), line.count(_QUOTE_CLOSE)
        bare = line.replace(_QUOTE_OPEN, "").replace(_QUOTE_CLOSE, "").strip()
        depth += opens
        if bare or not (opens or closes):
            out.append(("> " * depth + bare).rstrip() if depth else bare)
        depth = max(0, depth - closes)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()
