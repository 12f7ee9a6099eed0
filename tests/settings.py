"""Settings of the test suite: the project's, with the development-only apps installed.

The suite runs with DEV_TOOLS off, as production does, yet it tests the local Harvest sandbox and
the demo data too, whose commands and templates need their apps installed. Production settings
(DEV_TOOLS off, no dev apps) are checked in a fresh process by tests/core/test_dev_apps.py.
"""

from config.settings import *  # noqa: F403
from config.settings import DEV_APPS, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, *(app for app in DEV_APPS if app not in INSTALLED_APPS)]

# The candidate directory (apps/greenhouse/directory.py) is on in production. The suite counts
# the sandbox's requests of the per-address search in many tests, so it is off here, and the
# directory's own tests (tests/greenhouse/test_directory*.py) turn it on (the worker test
# through the environment of its worker processes).
GREENHOUSE_DIRECTORY_ENABLED = env.bool("GREENHOUSE_DIRECTORY_ENABLED", default=False)  # noqa: F405
