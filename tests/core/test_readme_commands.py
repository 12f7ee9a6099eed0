"""The README's commands work as written in a fresh clone (issue 14 item 7).

Every command of the README's code blocks is accounted for here: a block marked `<!-- checked -->`
is run, line by line and exactly as written, with bash in a `git clone` of this commit whose
`.venv` is this test run's virtualenv, after what `make run` does before it serves (migrate and
seed the demo, with DEBUG on). Every other command is listed in NOT_RUN_HERE with where it is
run instead, so a command added to the README is either checked or has to be listed (the test
names it). The Harvest sandbox the demo is connected to is this suite's sandbox over real HTTP.
No README text may say a bare `python manage.py`: a clone's Python with Django is
`.venv/bin/python`.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.fixtures.harvest import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

README = Path(settings.BASE_DIR) / "README.md"
MARKER = "<!-- checked -->"

# Commands of the README that this test does not run, and who does.
NOT_RUN_HERE = {
    "make run": "serves until stopped: the make-run test starts and stops it",
    "make test": "CI (.ci/run) runs it on both backends",
    "make lock": "re-resolves against the package registry",
    "make lock LOCK_ARGS=--upgrade": "re-resolves against the package registry",
    ".venv/bin/python manage.py staff_totp_enroll <username>": "a placeholder: the demo's "
    "`staff_totp_enroll support` is checked",
    "export DATABASE_URL=postgres://outreach:password@db:5432/outreach": "a deployment's hosts: "
    "CI runs the suite on PostgreSQL + Redis",
    "export CELERY_BROKER_URL=redis://redis:6379/0": "a deployment's hosts (see above)",
    "export CACHE_URL=redis://redis:6379/1": "a deployment's hosts (see above)",
    ".venv/bin/python manage.py migrate": "run here on the embedded default, before the checks",
    ".venv/bin/python manage.py collectstatic --noinput": "tests/core/test_layout_and_static.py",
    ".venv/bin/gunicorn config.wsgi --workers 2 --worker-class gthread --threads 4": (
        "serves until stopped"
    ),
    ".venv/bin/celery -A config worker -Q outreach-send --loglevel=INFO": "serves until stopped: "
    "tests/fixtures/worker.py runs real workers, by kind (tests/core/test_queues.py)",
    (
        ".venv/bin/celery -A config worker -Q outreach-sync --pool threads --concurrency 8 "
        "--loglevel=INFO"
    ): "serves until stopped: a threads worker in tests/greenhouse/test_batches.py",
    ".venv/bin/celery -A config beat --loglevel=INFO": "serves until stopped",
    "DEBUG=true .venv/bin/python manage.py harvest_sandbox --port 8001": "serves until stopped: "
    "tests/fixtures/harvest.py sandbox_command runs it as a process",
}


def code_blocks(text: str) -> list[tuple[bool, list[str]]]:
    """(checked, commands) for each indented code block: its lines without comments."""
    blocks: list[tuple[bool, list[str]]] = []
    lines = text.splitlines()
    checked, i = False, 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == MARKER:
            checked = True
        elif line.startswith("    ") and line.strip() and (i == 0 or not lines[i - 1].strip()):
            indent = len(line) - len(line.lstrip())
            commands = []
            while (
                i < len(lines)
                and lines[i].strip()
                and len(lines[i]) - len(lines[i].lstrip()) >= max(indent, 4)
            ):
                commands.append(re.sub(r"\s+#\s.*$", "", lines[i].strip()))
                i += 1
            blocks.append((checked, commands))
            checked = False
            continue
        elif line.strip():
            checked = False
        i += 1
    return blocks


def test_every_readme_command_is_checked_or_listed_with_who_runs_it():
    blocks = code_blocks(README.read_text(encoding="utf-8"))
    checked = [c for is_checked, commands in blocks if is_checked for c in commands]
    others = [c for is_checked, commands in blocks if not is_checked for c in commands]
    assert len(checked) >= 2, "the README has lost its checked blocks"
    assert sorted(set(others) - set(NOT_RUN_HERE)) == [], "check these, or list them above"
    assert sorted(set(NOT_RUN_HERE) - set(others)) == [], "no longer in the README: unlist"


def test_no_readme_command_needs_a_python_with_django_on_the_path():
    text = README.read_text(encoding="utf-8")
    assert re.findall(r"(?<![/\w])python manage\.py", text) == []


def _run(command: str, *, cwd: Path, env: dict[str, str], timeout: float = 240):
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def clone(tmp_path):
    """This commit, cloned, with this run's virtualenv as its `.venv`."""
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=settings.BASE_DIR, capture_output=True, text=True
    )
    assert head.returncode == 0, f"not a git checkout: {head.stderr}"
    target = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-checkout", str(settings.BASE_DIR), str(target)],
        check=True,
    )
    subprocess.run(["git", "checkout", "--quiet", head.stdout.strip()], cwd=target, check=True)
    (target / ".venv").symlink_to(Path(sys.prefix))
    return target


def test_the_checked_readme_commands_run_as_written_in_a_fresh_clone(clone, harvest_sandbox):
    # A clean environment, as a developer's shell: none of this test run's settings.
    env = {
        name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ
    }
    env.update(
        GREENHOUSE_SANDBOX_URL=harvest_sandbox.url,
        GREENHOUSE_SANDBOX_CLIENT_ID=SANDBOX_CLIENT_ID,
        GREENHOUSE_SANDBOX_CLIENT_SECRET=SANDBOX_CLIENT_SECRET,
    )
    which = _run(".venv/bin/python -c 'import apps; print(apps.__file__)'", cwd=clone, env=env)
    assert which.stdout.strip() == str(clone / "apps" / "__init__.py"), which.stderr
    # What `make run` does before it serves (Makefile, target run).
    for step in ("migrate --noinput", "seed_demo"):
        done = _run(f"DEBUG=true .venv/bin/python manage.py {step}", cwd=clone, env=env)
        assert done.returncode == 0, done.stderr

    blocks = code_blocks((clone / "README.md").read_text(encoding="utf-8"))
    ran = []
    for command in (c for is_checked, commands in blocks if is_checked for c in commands):
        result = _run(command, cwd=clone, env=env)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        ran.append((command, result.stdout))

    outputs = dict(ran)
    check = outputs["DEBUG=true .venv/bin/python manage.py greenhouse_check acme"]
    assert "Team:            Acme Talent (acme," in check
    assert "Connection test: OK" in check
    assert "User mapping:    all 2 team members mapped." in check
    assert "otpauth://totp/" in outputs[".venv/bin/python manage.py staff_totp_enroll support"]
    # The valid names, for a wrong one.
    wrong = _run("DEBUG=true .venv/bin/python manage.py greenhouse_check acm", cwd=clone, env=env)
    assert wrong.returncode == 1
    assert "No team “acm”. Did you mean acme? Teams connected to Greenhouse (slug): acme." in (
        wrong.stderr
    )
