"""The Greenhouse Harvest v3 vendor layer: the HTTP client (`client`), the hosts it may contact
(`hosts`), its typed errors in plain words (`errors`), the shared rate budget (`ratelimit`) and the
wall-clock deadline (`deadline`).

It imports no model and nothing of the apps but apps.core's crypto and text helpers, so it can be
read, tested and replaced as Greenhouse's API alone; the app around it (connection.py, sync.py)
turns models into calls (tests/core/test_layering.py holds this rule).
"""
