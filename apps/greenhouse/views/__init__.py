"""Pages for the sync, one module per audience: `pause` (the bot email's pause link, no login),
`candidate` (recruiters: a candidate's messages with their sync status, and the pause switch),
`team` (team admins: the connection, switches, user mapping and sync log). Team pages go through
apps.teams.access; no GET changes anything.
"""


def request_client(request) -> dict:
    """Who asked, for the pause audit: REMOTE_ADDR only (X-Forwarded-For is whatever the client
    says unless a proxy rewrites it)."""
    return {
        "ip_address": request.META.get("REMOTE_ADDR") or None,
        "user_agent": request.headers.get("User-Agent", "")[:300],
    }
