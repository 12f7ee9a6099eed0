"""requirements.lock pins what pyproject.toml names, at the same versions.

`make install` installs the lock, not pyproject.toml: a dependency added or bumped in pyproject
without `make lock` would be missing (or stale) on every fresh clone and in CI, silently. This
test turns that into a failure that says which line to fix and how.
"""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"
RELOCK = "Run `make lock` and commit requirements.lock."

# "name==version \" at the start of a line, optionally followed by "; markers".
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)


def declared(pyproject_text: str) -> list[Requirement]:
    """The main dependencies, the dev extra and the build requirements of a pyproject.toml."""
    data = tomllib.loads(pyproject_text)
    lines = [
        *data["project"]["dependencies"],
        *data["project"]["optional-dependencies"]["dev"],
        *data["build-system"]["requires"],
    ]
    return [Requirement(line) for line in lines]


def locked(lock_text: str) -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in _PIN.findall(lock_text)}


def lock_problems(pyproject_text: str, lock_text: str) -> list[str]:
    pins = locked(lock_text)
    problems = []
    for requirement in declared(pyproject_text):
        exact = [s.version for s in requirement.specifier if s.operator == "=="]
        name = canonicalize_name(requirement.name)
        if len(exact) != 1 or len(requirement.specifier) != 1:
            problems.append(f"{requirement}: pyproject.toml pins exact versions (name==version).")
        elif name not in pins:
            problems.append(f"{requirement.name} is in pyproject.toml but not in the lock.")
        elif pins[name] != exact[0]:
            problems.append(
                f"{requirement.name}: pyproject.toml says {exact[0]}, the lock {pins[name]}."
            )
    return problems


def test_every_dependency_of_pyproject_is_locked_at_its_version():
    problems = lock_problems(PYPROJECT.read_text(), LOCK.read_text())

    assert not problems, "\n".join([*problems, RELOCK])


def test_every_locked_package_carries_hashes():
    # pip and uv install it with --require-hashes: one entry without a hash fails the install.
    entries = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text().split("\n", 2)[-1].strip())
    unhashed = [e.split()[0] for e in entries if e and "--hash=sha256:" not in e]

    assert len(entries) > 50
    assert not unhashed, f"No hashes for {', '.join(unhashed)}. {RELOCK}"


# The check itself, on small inputs: it must see each way the two files can disagree.

PYPROJECT_SAMPLE = """
[project]
dependencies = ["Django==5.2.19", "celery[redis]==5.7.0"]
[project.optional-dependencies]
dev = ["pytest==9.2.0"]
[build-system]
requires = ["setuptools==84.2.1"]
"""
LOCK_SAMPLE = """\
celery==5.7.0 \\
    --hash=sha256:00
django==5.2.19 \\
    --hash=sha256:11
pytest==9.2.0 ; sys_platform != 'win32' \\
    --hash=sha256:22
setuptools==84.2.1 \\
    --hash=sha256:33
"""


def test_the_check_passes_a_lock_that_matches():
    assert lock_problems(PYPROJECT_SAMPLE, LOCK_SAMPLE) == []


def test_the_check_names_a_bumped_version():
    bumped = PYPROJECT_SAMPLE.replace("pytest==9.2.0", "pytest==9.3.0")

    assert lock_problems(bumped, LOCK_SAMPLE) == [
        "pytest: pyproject.toml says 9.3.0, the lock 9.2.0."
    ]


def test_the_check_names_a_dependency_the_lock_lacks():
    added = PYPROJECT_SAMPLE.replace('"pytest==9.2.0"', '"pytest==9.2.0", "Django-Axes==8.3.1"')

    assert lock_problems(added, LOCK_SAMPLE) == [
        "Django-Axes is in pyproject.toml but not in the lock."
    ]


def test_the_check_refuses_a_range_in_pyproject():
    ranged = PYPROJECT_SAMPLE.replace("setuptools==84.2.1", "setuptools>=69")

    assert lock_problems(ranged, LOCK_SAMPLE) == [
        "setuptools>=69: pyproject.toml pins exact versions (name==version)."
    ]
