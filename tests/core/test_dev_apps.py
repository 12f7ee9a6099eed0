"""The local Harvest sandbox and the demo data are development-only apps: without DEV_TOOLS they
are not installed, nothing of theirs is imported, `check --deploy` stays clean, and the built
wheel does not contain them. Each settings case runs Django in a fresh process
(tests/core/test_settings.py's helper), so this process's modules prove nothing either way."""

import json
import tomllib

from django.conf import settings
from setuptools import find_namespace_packages

from tests.core.test_settings import PRODUCTION, run_django

DEV_APPS = ("apps.harvest_sandbox", "apps.demo")

# Start Django, load every URLconf and run the deploy checks, then report what got imported.
PROBE = """
import json, sys, django
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.urls import get_resolver
get_resolver().url_patterns  # imports config.urls and every app's urls and views
call_command("check", "--deploy", "--fail-level", "{fail_level}")
dev = ("apps.harvest_sandbox", "apps.demo")
print(json.dumps({
    "installed": [a for a in settings.INSTALLED_APPS if a in dev],
    "imported": sorted(m for m in sys.modules if m.split(".")[:2] in (d.split(".") for d in dev)),
    "email": settings.EMAIL_BACKEND,
}))
"""


def _probe(env_vars, tmp_path, *, fail_level="WARNING"):
    result = run_django(PROBE.replace("{fail_level}", fail_level), env_vars, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_has_no_dev_apps_and_passes_the_deploy_check(tmp_path):
    found = _probe(PRODUCTION, tmp_path)
    assert found["installed"] == []
    assert found["imported"] == []


def test_development_tools_install_the_dev_apps(tmp_path):
    # The same probe finds them when they are there, so the empty answers above mean something.
    # (DEV_TOOLS fails the deploy check by design, outreach.W008 and E001: only setup counts.)
    env = {**PRODUCTION, "DEV_TOOLS": "true"}
    found = _probe(env, tmp_path, fail_level="CRITICAL")
    assert found["installed"] == list(DEV_APPS)
    assert (
        "apps.harvest_sandbox.apps" in found["imported"] and "apps.demo.apps" in found["imported"]
    )


def test_the_wheel_leaves_out_the_dev_apps():
    # The packages setuptools puts in the wheel with this project's configuration
    # ([tool.setuptools.packages.find], namespaces on as by default).
    config = tomllib.loads((settings.BASE_DIR / "pyproject.toml").read_text())
    find = config["tool"]["setuptools"]["packages"]["find"]
    packages = find_namespace_packages(
        str(settings.BASE_DIR), include=find["include"], exclude=find["exclude"]
    )
    assert {"apps.core", "apps.greenhouse", "apps.messaging", "config"} <= set(packages)
    dev = [
        p for p in packages if p.split(".")[:2] in (["apps", "harvest_sandbox"], ["apps", "demo"])
    ]
    assert dev == []
