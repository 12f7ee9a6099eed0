"""The import layering of apps/ holds, function-level imports included.

Layers, bottom to top: core < teams < accounts < sequences < messaging < greenhouse <
{harvest_sandbox, demo}. An app imports only its own layer and those below; the two dev-only apps
share the top layer (the sandbox serves the demo's candidates, seed_demo connects to the sandbox).
More rules: apps/greenhouse/harvest (the vendor layer) imports no model and nothing of apps/ but
itself and apps.core's crypto and text; config imports no dev-only app (settings name them as
dotted strings only). The checker reads the source (ast), so an import inside a function counts,
and a second test runs it over a copy with one upward import injected, to show it fails.
"""

import ast
import shutil
from pathlib import Path

from django.conf import settings

LAYERS = {
    "core": 0,
    "teams": 1,
    "accounts": 2,  # auth and staff 2FA: imports no other app today
    "sequences": 3,
    "messaging": 4,
    "greenhouse": 5,
    "harvest_sandbox": 6,
    "demo": 6,
}
DEV_APPS = {"harvest_sandbox", "demo"}
HARVEST = "apps.greenhouse.harvest"
HARVEST_MAY_IMPORT = ("apps.core.crypto", "apps.core.text")


def _imports(path: Path, module: str):
    """(line, modules) for every import statement of the file, relative ones resolved:
    `from apps.x import models` names both apps.x and apps.x.models."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, [alias.name]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{alias.name}" for alias in node.names]
            # `from apps.core import crypto` is apps.core.crypto, not all of apps.core.
            app_root = target.count(".") == 1 and target.startswith("apps.")
            yield node.lineno, names if node.module is None or app_root else [target, *names]


def _app(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "apps" and len(parts) > 1 else None


def _harvest_problem(modules: list[str]) -> str:
    for target in modules:
        if target.endswith(".models") or target.startswith("django.db.models"):
            return f"the harvest package imports a model ({target})"
    for target in modules:
        if _app(target) and not target.startswith((HARVEST, *HARVEST_MAY_IMPORT)):
            return f"the harvest package imports {target}"
    return ""


def layering_violations(root: Path) -> list[str]:
    """Every import under root/apps and root/config that breaks a rule, as "path:line: why"."""
    problems = []
    for path in sorted((root / "apps").rglob("*.py")):
        relative = path.relative_to(root)
        if "migrations" in relative.parts:
            continue  # generated; they name other apps' models by string
        module = ".".join(relative.with_suffix("").parts)
        app = _app(module)
        for line, modules in _imports(path, module):
            where = f"{relative}:{line}"
            if module.startswith(HARVEST) and (why := _harvest_problem(modules)):
                problems.append(f"{where}: {why}")
            others = [m for m in modules if _app(m) in LAYERS and _app(m) != app]
            if app not in LAYERS or not others:
                continue
            target = min(others, key=len)
            other = _app(target)
            if LAYERS[other] > LAYERS[app] or (
                LAYERS[other] == LAYERS[app] and app not in DEV_APPS
            ):
                problems.append(f"{where}: {app} imports upward: {target}")
    for path in sorted((root / "config").rglob("*.py")):
        relative = path.relative_to(root)
        module = ".".join(relative.with_suffix("").parts)
        for line, modules in _imports(path, module):
            dev = [m for m in modules if _app(m) in DEV_APPS]
            if dev:
                problems.append(f"{relative}:{line}: config imports a dev-only app ({dev[0]})")
    return problems


def test_no_app_imports_upward():
    assert layering_violations(settings.BASE_DIR) == []


def test_every_app_has_a_layer():
    apps_dir = settings.BASE_DIR / "apps"
    found = {p.name for p in apps_dir.iterdir() if (p / "apps.py").exists()}
    assert found == set(LAYERS)


def _copy(tmp_path) -> Path:
    for name in ("apps", "config"):
        shutil.copytree(
            settings.BASE_DIR / name,
            tmp_path / name,
            ignore=shutil.ignore_patterns("__pycache__", "templates", "migrations"),
        )
    return tmp_path


def _inject(path: Path, after: str, line: str) -> None:
    text = path.read_text()
    assert after in text
    path.write_text(text.replace(after, after + line, 1))


def test_the_checker_fails_on_an_upward_import_inside_a_function(tmp_path):
    root = _copy(tmp_path)
    assert layering_violations(root) == []
    # The kind of import this layout removed: sequences reaching into messaging from a view.
    _inject(
        root / "apps/sequences/views.py",
        "def prospect_detail(request, pk):\n",
        "    from apps.messaging.selectors import thread_list  # noqa: F401\n",
    )
    problems = layering_violations(root)
    assert len(problems) == 1
    assert problems[0].startswith("apps/sequences/views.py:")
    assert "sequences imports upward: apps.messaging.selectors" in problems[0]


def test_the_checker_fails_on_the_other_rules(tmp_path):
    root = _copy(tmp_path)
    _inject(root / "apps/messaging/outbound.py", '"""\n', "from apps.greenhouse import models\n")
    _inject(root / "apps/core/text.py", '"""\n', "from ..demo import data\n")
    _inject(
        root / "apps/greenhouse/harvest/client.py", '"""\n', "from ..models import SyncRecord\n"
    )
    _inject(root / "config/urls.py", "\n", "import apps.harvest_sandbox\n")
    problems = "\n".join(layering_violations(root))
    assert "messaging imports upward: apps.greenhouse" in problems
    assert "core imports upward: apps.demo" in problems
    assert "the harvest package imports a model (apps.greenhouse.models)" in problems
    assert problems.count("\n") == 3  # one line each
    assert "config imports a dev-only app (apps.harvest_sandbox)" in problems
