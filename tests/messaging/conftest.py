from tests.messaging.fixtures import anymail_outbox, world  # noqa: F401
