"""Which of a team's sensitive words and patterns a message contains (issue 16, item 2).

Why: Greenhouse notes can be neither edited nor deleted, so a message about salary, a visa or a
medical matter must be caught before it is written, not after. A team names words and phrases
(one per line); a match waits for the recruiter's review (review.py). Pure functions: no
database, no network.

The rules a team writes:
- a word or a phrase, matched whole (word boundaries), whatever the case, any run of spaces or
  line breaks between the words of a phrase: `offer letter` matches "Offer
  Letter" but `visa` does not match "advisable";
- a trailing `*` matches any ending: `salar*` matches "salary" and "salaries";
- `[ssn]` and `[iban]`: the built-in patterns for SSN-like and IBAN-like numbers.

No free regular expression is taken from a team: a careless one could hang the worker on a
long message (Python's `re` has no timeout). The built-in patterns are written not to match
phone numbers or dates: an SSN-like number is 3-2-4 digits with the same separator twice (a
phone number is 3-3-4, a date 4-2-2 or 2-2-4) and outside the ranges never issued (000, 666,
9xx; 00; 0000); an IBAN-like number starts with a country's code and its length and passes the
IBAN's own mod-97 check, so a word in capitals followed by digits does not match.

What matched is kept as the rule's label ("salary", "SSN-like number"), never as the matched
text: the review record must not become one more copy of a social security number.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_TERMS = (
    "salary",
    "compensation",
    "offer letter",
    "visa",
    "medical",
    "[ssn]",
    "[iban]",
)
DEFAULT_TERMS_TEXT = "\n".join(DEFAULT_TERMS)
MAX_TERMS = 200
MAX_TERM_LENGTH = 100

_SSN = re.compile(
    r"(?<![\w-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])",
)
# Two capitals and two check digits, then the rest in groups of four (spaces optional).
_IBAN = re.compile(r"(?<![\w])([A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?)(?![\w])")
# The IBAN lengths of the countries whose IBANs recruiters are most likely to receive (SWIFT's
# IBAN registry); a code not here is not taken as an IBAN.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21,
    "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GI": 23, "GL": 18, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26,
    "IT": 27, "KW": 30, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18,
    "NO": 15, "PL": 28, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19,
    "SK": 24, "SM": 27, "TR": 26, "UA": 29,
}  # fmt: skip


def _ssn_found(text: str) -> bool:
    return _SSN.search(text) is not None


def iban_is_valid(candidate: str) -> bool:
    """The IBAN check: the country's length, then mod 97 of the rearranged digits is 1."""
    iban = candidate.replace(" ", "").upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def _iban_found(text: str) -> bool:
    return any(iban_is_valid(m.group(1)) for m in _IBAN.finditer(text))


PATTERNS = {
    "[ssn]": ("SSN-like number", _ssn_found),
    "[iban]": ("IBAN-like number", _iban_found),
}


@dataclass(frozen=True)
class Rule:
    label: str  # what the review shows as matched
    regex: re.Pattern | None = None  # a word or phrase
    pattern: str = ""  # or a built-in pattern's key

    def found_in(self, text: str) -> bool:
        if self.pattern:
            return PATTERNS[self.pattern][1](text)
        assert self.regex is not None
        return self.regex.search(text) is not None


class TermError(ValueError):
    """A line of the team's list that is not a rule (said in the settings form)."""


def _word_regex(term: str) -> re.Pattern:
    wildcard = term.endswith("*")
    words = term.rstrip("*").split()
    if not words or any("*" in w for w in words):
        raise TermError(f"“{term}”: a * is taken only at the end of a word.")
    body = r"\s+".join(re.escape(w) for w in words)
    tail = r"\w*" if wildcard else ""
    return re.compile(rf"(?<!\w){body}{tail}(?!\w)", re.IGNORECASE)


def parse_terms(text: str) -> list[Rule]:
    """The rules of a team's list (one per line, blank lines and `#` comments ignored).
    Raises TermError for a line that is not one."""
    rules: list[Rule] = []
    seen: set[str] = set()
    for raw in (text or "").splitlines():
        term = " ".join(raw.split())
        if not term or term.startswith("#"):
            continue
        if len(term) > MAX_TERM_LENGTH:
            raise TermError(f"“{term[:30]}…”: at most {MAX_TERM_LENGTH} characters a line.")
        key = term.lower()
        if key in seen:
            continue
        seen.add(key)
        if term.startswith("["):
            if key not in PATTERNS:
                known = ", ".join(PATTERNS)
                raise TermError(f"“{term}”: not a built-in pattern (these are: {known}).")
            rules.append(Rule(label=PATTERNS[key][0], pattern=key))
            continue
        rules.append(Rule(label=term.lower(), regex=_word_regex(term)))
    if len(rules) > MAX_TERMS:
        raise TermError(f"At most {MAX_TERMS} words and patterns.")
    return rules


@lru_cache(maxsize=256)
def _rules(text: str) -> tuple[Rule, ...]:
    try:
        return tuple(parse_terms(text))
    except TermError:
        # Saved lists are validated; one that no longer parses matches what still does.
        good = []
        for line in text.splitlines():
            try:
                good += parse_terms(line)
            except TermError:
                continue
        return tuple(good)


def sensitive_matches(terms_text: str, *texts: str) -> list[str]:
    """The labels of the rules of `terms_text` that the texts contain, in the list's order."""
    joined = "\n".join(t for t in texts if t)
    if not joined.strip():
        return []
    return [rule.label for rule in _rules(terms_text or "") if rule.found_in(joined)]
