"""A local imitation of Greenhouse Harvest v3, for development (`manage.py harvest_sandbox`) and
tests (tests/fixtures/harvest.py). In-memory state, kept in a state
file across restarts when given one; stdlib HTTP server; nothing to install."""

from .control import SandboxControl
from .server import SandboxServer, start_in_thread, stop
from .state import Config, SandboxState, StateFileError

__all__ = [
    "Config",
    "SandboxControl",
    "SandboxServer",
    "SandboxState",
    "StateFileError",
    "start_in_thread",
    "stop",
]
