"""Demo data shared by `seed_demo` and the local Harvest sandbox, so the two line up."""

from datetime import timedelta
from typing import Any

DEMO_PASSWORD = "outreach-demo"  # noqa: S105  (local demo accounts only, printed by `make run`)

DEMO_TEAM = {"name": "Acme Talent", "slug": "acme", "default_bcc": ""}

# username, first, last, email, role ("admin", "recruiter" or "support")
DEMO_USERS = [
    ("ada", "Ada", "Admin", "ada@acme.example", "admin"),
    ("rob", "Rob", "Recruiter", "rob@acme.example", "recruiter"),
    ("support", "Sam", "Support", "support@outreach.example", "support"),
]

RECRUITER_VIRTUAL_NUMBER = "+15005550006"

# first, last, email, phone: the sandbox holds Greenhouse candidates with the same addresses,
# except the last one, who is not in Greenhouse (to show the "no candidate" case).
DEMO_PROSPECTS = [
    ("Grace", "Hopper", "grace.hopper@example.com", "+14155550101"),
    ("Alan", "Turing", "alan.turing@example.com", "+14155550102"),
    ("Katherine", "Johnson", "katherine.johnson@example.com", "+14155550103"),
    ("Linus", "Unknown", "linus.unknown@example.com", "+14155550104"),
]
PROSPECTS_IN_GREENHOUSE = 3

DEMO_SEQUENCE: dict[str, Any] = {
    "name": "Backend engineers, autumn",
    "steps": [
        (
            "Quick question, {{ first_name }}",
            "Hi {{ first_name }},\n\nWould you be open to a chat "
            "about a backend role at Acme?\n\nRob",
            timedelta(0),
        ),
        (
            "",
            "Hi {{ first_name }}, just bumping this up in case it got buried.",
            timedelta(minutes=2),
        ),
        (
            "",
            "Last note from me, {{ first_name }}: happy to share details whenever suits.",
            timedelta(minutes=5),
        ),
    ],
}
