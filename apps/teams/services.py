from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from .models import Team


def default_bcc_normalize(default_bcc: str) -> str:
    """The default BCC as it is stored (lower case, comma-separated); the save and its preview
    (previews.py) both use it. Raises ValidationError for an address that is not valid."""
    addresses = [a.strip().lower() for a in default_bcc.replace(";", ",").split(",") if a.strip()]
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError as exc:
            raise ValidationError(
                {"default_bcc": f"“{address}” is not a valid email address."}
            ) from exc
    return ", ".join(addresses)


def team_default_bcc_set(*, team: Team, default_bcc: str) -> Team:
    """Set the BCC that new sequences start with. Existing sequences keep theirs (on purpose:
    a changed default must not silently start copying mail for sequences already running)."""
    team.default_bcc = default_bcc_normalize(default_bcc)
    team.full_clean(exclude=["slug", "name"])
    team.save(update_fields=["default_bcc"])
    return team
