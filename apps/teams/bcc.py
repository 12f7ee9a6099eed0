"""BCC addresses: the Greenhouse Maildrop choices and how to recognise a maildrop address."""

import re

GREENHOUSE_MAILDROP = "maildrop@greenhouse.io"
GREENHOUSE_MAILDROP_IVY = "maildrop@ivy.greenhouse.io"

# maildrop@greenhouse.io, or maildrop@<cluster>.greenhouse.io for teams on another cluster.
_MAILDROP = re.compile(r"^maildrop@([a-z0-9-]+\.)?greenhouse\.io$", re.IGNORECASE)


def is_greenhouse_maildrop(address: str) -> bool:
    return bool(_MAILDROP.match(address.strip()))


def has_greenhouse_maildrop(addresses) -> bool:
    return any(is_greenhouse_maildrop(address) for address in addresses)
