"""constraints.txt — the lock CI and the README install with — covers what pyproject.toml
declares, at versions inside its ranges, so ``pip install -c constraints.txt -e '.[test]'``
installs exactly the locked set. pyproject.toml keeps ranges for library users."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _locked() -> dict[str, list[tuple[str, str]]]:
    """name → [(version, marker)] of constraints.txt."""
    out: dict[str, list[tuple[str, str]]] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier  # one exact pin per line
        assert spec.operator == "==", line
        out.setdefault(_name(req.name), []).append((spec.version, str(req.marker or "")))
    return out


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return [Requirement(r) for r in reqs]


def test_every_declared_requirement_is_locked_inside_its_range():
    locked, env = _locked(), default_environment()
    problems = []
    for req in _declared():
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        pins = [v for v, marker in locked.get(_name(req.name), [])
                if not marker or Requirement(f"x; {marker}").marker.evaluate(env)]
        if not pins:
            problems.append(f"{req.name}: not in constraints.txt")
        elif not all(req.specifier.contains(v, prereleases=True) for v in pins):
            problems.append(f"{req}: locked at {pins}")
    assert not problems, ("constraints.txt is stale — refresh it with the command in README.md: "
                          + "; ".join(problems))


def test_the_lock_says_how_it_was_made():
    head = (ROOT / "constraints.txt").read_text().splitlines()[:3]
    assert any("uv pip compile pyproject.toml" in line for line in head), head
