# The email and SMS test outboxes (and PUBLIC_BASE_URL) of the messaging tests.
from tests.messaging.fixtures import anymail_outbox  # noqa: F401
