"""Every third-party module that pipeline/, forwarder/ and dashboards/ import is declared in
pyproject.toml — in ``dependencies``, or in the extra that makes it optional — so an install
from the wheel never fails on an undeclared import."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = {"pipeline", "forwarder", "dashboards"}
# Imported only behind a guard that tells the user what to install (the extra named here).
EXTRA_ONLY = {"dask", "otlp-grpc"}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group()).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    for extra, reqs in project["optional-dependencies"].items():
        if extra in EXTRA_ONLY:
            names |= {_name(r) for r in reqs}
    return names


def _imports() -> dict[str, str]:
    """Full module name → first file importing it, for every absolute non-stdlib import."""
    found: dict[str, str] = {}
    for root in sorted(OURS):
        for path in sorted((ROOT / root).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in OURS and top != "kibana_saved_objects":
                        found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def _distribution(module: str, tops: dict[str, list[str]]) -> str | None:
    """The installed distribution holding ``module``. A namespace package (opentelemetry) is
    shared by several: the one whose files hold the module's path is it."""
    candidates = tops.get(module.split(".")[0], [])
    if len(candidates) <= 1:
        return _name(candidates[0]) if candidates else None
    parts = module.split(".")
    for depth in range(len(parts), 1, -1):
        prefix = "/".join(parts[:depth])
        for dist in candidates:
            files = importlib.metadata.distribution(dist).files or ()
            if any(str(f).startswith(prefix + "/") or str(f) == prefix + ".py" for f in files):
                return _name(dist)
    return None


def test_every_imported_module_is_declared():
    declared, tops = _declared(), importlib.metadata.packages_distributions()
    missing = []
    for module, where in sorted(_imports().items()):
        dist = _distribution(module, tops)
        assert dist is not None, f"{module} (imported by {where}) is not installed"
        if dist not in declared:
            missing.append(f"{module} ({dist}, imported by {where})")
    assert not missing, "imported but not declared in pyproject.toml: " + "; ".join(missing)


def test_the_scan_sees_what_it_must():
    """The scan itself: it finds the imports it exists to check."""
    modules = {m.split(".")[0] for m in _imports()}
    assert {"apache_beam", "boto3", "elasticsearch", "elastic_transport", "yaml", "orjson"} <= modules
