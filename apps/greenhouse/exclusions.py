"""The team's exclusions: which email is never synced, and which entry says so (issue 16, item 1).

Why a module of its own, with no database access: the same rules run in four places that must
agree: when a message's sync record is created (records.py), in the careful writer and the
batch's fast path (through facts.py), and in the preview an admin sees before saving a new list
(exclusion_services.py). They answer with the kind the policy knows (`Exclusion`) and the entry
that matched, which the sync log shows ("Excluded address: recruiting-agency.example").

Entries, one per line:
- an address: `someone@example.com` (that address only);
- a domain: `example.com` or `@example.com` (the domain and its subdomains);
- a local part: `noreply@` (that name at any domain; the automated senders' form).

The rule for mixed recipients, "the counterpart decides":
- an inbound email is judged by its sender alone (the person who wrote to us);
- an outbound email is internal when every recipient (To and Cc) is on the team's own domains,
  and excluded only when every recipient outside them is excluded; one candidate among the
  recipients is enough for the email to be synced;
- internal means every address of the counterpart on the team's own domains.
SMS is never excluded by these lists (they hold email addresses and domains).
"""

import re
from dataclasses import dataclass, field
from email.utils import getaddresses, parseaddr

from .policy import Exclusion

MIXED_RECIPIENTS_RULE = (
    "The counterpart decides. A reply is judged by its sender. An email the team sends is "
    "internal when every recipient is on the team's own domains, and excluded only when every "
    "recipient outside them is excluded: one candidate among the recipients is enough for it to "
    "be synced."
)

DEFAULT_AUTOMATED_SENDERS = ("noreply@", "no-reply@", "mailer-daemon@", "postmaster@")

# Domains anybody can sign up at: a team member's address there never makes the domain internal
# (it would exclude every candidate who uses it).
PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "ymail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "web.de",
        "mail.com",
        "zoho.com",
        "yandex.com",
        "yandex.ru",
        "fastmail.com",
        "hey.com",
    }
)

MAX_ENTRIES = 500
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_LOCAL = re.compile(r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}$")


class EntryError(ValueError):
    pass


def _domain_ok(domain: str) -> bool:
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_domain.split(".")
    return len(ascii_domain) <= 253 and len(labels) >= 2 and all(_LABEL.match(x) for x in labels)


def entry_normalize(line: str, *, allow: tuple[str, ...] = ("address", "domain", "local")) -> str:
    """The entry's stored form (lower case; a domain without "@"), or EntryError saying what is
    wrong with it in plain words."""
    value = line.strip().lower()
    if not value:
        raise EntryError("is empty")
    if any(c.isspace() for c in value) or "," in value or ";" in value:
        raise EntryError("holds spaces or separators: put one entry on each line")
    if value.startswith("@"):
        value = value[1:]
        if "@" in value:
            raise EntryError("is not an address, a domain or a name ending in @")
    if "@" not in value:
        if "domain" not in allow:
            raise EntryError("is a domain; this list takes names ending in @, such as noreply@")
        if not _domain_ok(value):
            raise EntryError("is not a valid domain (such as example.com)")
        return value
    local, _, domain = value.rpartition("@")
    if not local or "@" in local:
        raise EntryError("is not an address, a domain or a name ending in @")
    if not _LOCAL.match(local):
        raise EntryError("has characters an address cannot hold before the @")
    if not domain:
        if "local" not in allow:
            raise EntryError("is a name without a domain; write a domain such as example.com")
        return f"{local}@"
    if "address" not in allow:
        if "domain" in allow:
            raise EntryError("is an address; this list takes domains (such as example.com)")
        raise EntryError("is an address; this list takes names ending in @, such as noreply@")
    if not _domain_ok(domain):
        raise EntryError("has an invalid domain after the @")
    return f"{local}@{domain}"


@dataclass
class Parsed:
    entries: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def entries_parse(text: str, *, allow: tuple[str, ...]) -> Parsed:
    """The entries of a textarea, one per line, each once, in the order typed; an error per bad
    line says which line and why (the caller keeps what was typed, so nothing is lost)."""
    parsed = Parsed()
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip() or line.strip().startswith("#"):
            continue
        try:
            entry = entry_normalize(line, allow=allow)
        except EntryError as exc:
            parsed.errors.append(f"Line {number}, “{line.strip()[:80]}”, {exc}.")
            continue
        if entry not in parsed.entries:
            parsed.entries.append(entry)
    if len(parsed.entries) > MAX_ENTRIES:
        parsed.errors.append(f"At most {MAX_ENTRIES} entries; there are {len(parsed.entries)}.")
    return parsed


@dataclass(frozen=True)
class ExclusionRules:
    """A team's lists, in their stored form (entry_normalize)."""

    internal_domains: tuple[str, ...] = ()
    listed: tuple[str, ...] = ()
    automated_senders: tuple[str, ...] = DEFAULT_AUTOMATED_SENDERS
    automated_headers: bool = True  # auto-replies and bounces by their headers


@dataclass(frozen=True)
class Match:
    kind: Exclusion = Exclusion.NONE
    entry: str = ""  # the entry (or header) that excluded the message

    @property
    def detail(self) -> str:
        return self.entry


NO_MATCH = Match()


def _address(value: str) -> str:
    """The bare address of a header value ("Rob <rob@acme.example>" → rob@acme.example)."""
    found = [spec for _, spec in getaddresses([value]) if "@" in spec]
    spec = found[0] if found else parseaddr(value)[1]
    return spec.strip().lower()


def _domain_matches(domain: str, entry: str) -> bool:
    return domain == entry or domain.endswith(f".{entry}")


def _entry_for(address: str, entries: tuple[str, ...]) -> str:
    """The first entry that covers `address`, or ""."""
    local, _, domain = address.rpartition("@")
    for entry in entries:
        if entry.endswith("@"):
            if local == entry[:-1]:
                return entry
        elif "@" in entry:
            if address == entry:
                return entry
        elif _domain_matches(domain, entry):
            return entry
    return ""


def _one_address(address: str, rules: ExclusionRules) -> Match:
    """What excludes one counterpart's address: the team's list first (its explicit choice),
    then the automated senders, then the team's own domains."""
    if entry := _entry_for(address, rules.listed):
        return Match(Exclusion.LISTED, entry)
    if entry := _entry_for(address, rules.automated_senders):
        return Match(Exclusion.AUTOMATED, entry)
    if entry := _entry_for(address, rules.internal_domains):
        return Match(Exclusion.INTERNAL, entry)
    return NO_MATCH


def exclusion_match(
    *,
    rules: ExclusionRules,
    channel: str,
    direction: str,
    from_address: str,
    to_addresses: list[str] | None = None,
    cc_addresses: list[str] | None = None,
    automated_by: str = "",
) -> Match:
    """Whether the team's exclusions keep this message out of Greenhouse, and which entry."""
    if channel != "email":
        return NO_MATCH
    if direction == "inbound":
        if automated_by and rules.automated_headers:
            return Match(Exclusion.AUTOMATED, automated_by)
        sender = _address(from_address or "")
        return _one_address(sender, rules) if sender else NO_MATCH
    recipients: list[str] = []
    for value in [*(to_addresses or []), *(cc_addresses or [])]:
        address = _address(str(value))
        if address and address not in recipients:
            recipients.append(address)
    if not recipients:
        return NO_MATCH
    external = [a for a in recipients if not _entry_for(a, rules.internal_domains)]
    if not external:
        return Match(Exclusion.INTERNAL, _entry_for(recipients[0], rules.internal_domains))
    matches = [_one_address(a, rules) for a in external]
    if all(m.kind != Exclusion.NONE for m in matches):
        return matches[0]
    return NO_MATCH


def default_internal_domains(member_emails: list[str]) -> list[str]:
    """The team's own domains as first proposed: the domains of its members' addresses (which
    are also the addresses its sequences send from), without public mail domains."""
    domains: list[str] = []
    for email in member_emails:
        domain = _address(email).rpartition("@")[2]
        if domain and domain not in PUBLIC_MAIL_DOMAINS and domain not in domains:
            try:
                domains.append(entry_normalize(domain, allow=("domain",)))
            except EntryError:
                continue
    return sorted(domains)
