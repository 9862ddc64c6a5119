"""The layer rule, checked (docs/architecture.md): layers point one way, down.

- importing any pure-core module (model, parse, the fold, stitch, detect, rules, ledger, sketch,
  cost, window arithmetic, carried state) loads no ``apache_beam``, in a fresh interpreter;
- no import cycle inside ``pipeline/`` and ``forwarder/`` (every import, lazy ones too);
- no Beam shell (``pipeline/sources``, ``transforms``, ``sinks``) imports the streaming
  assembly or the commands.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PURE_PACKAGES = ("pipeline.model", "pipeline.parse", "pipeline.stitch", "pipeline.detect", "pipeline.rules",
                 "pipeline.carry", "pipeline.advise")
PURE_MODULES = ("pipeline.invocations", "pipeline.ledger", "pipeline.sketch", "pipeline.cost", "pipeline.windows",
                "pipeline.metrics", "pipeline.aws_errors", "pipeline.errors", "pipeline.streaming.loop_state",
                "pipeline.streaming.checkpoint", "pipeline.local_index", "pipeline.aggregate_files", "pipeline.spill")
SHELLS = ("pipeline.sources", "pipeline.transforms", "pipeline.sinks")
ABOVE_SHELLS = ("pipeline.streaming", "pipeline.commands", "pipeline.graph", "pipeline.cli", "pipeline.run")
# A cycle another change removes (the simulator's modules: issue 14's simulate fix); remove the
# entry when it lands, and the test then holds the simulator too.
KNOWN_CYCLES: set[frozenset[str]] = set()   # none: the simulator's cycle is gone (simulate/spec.py)


def module_files() -> dict[str, Path]:
    out = {}
    for package in ("pipeline", "forwarder"):
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every project module ``name`` imports, at module level or inside a function."""
    found = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in modules)
    resolved = set()
    for target in found:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def test_no_import_cycle_in_pipeline_or_forwarder():
    found = [c for c in cycles(import_graph()) if c not in KNOWN_CYCLES]
    assert not found, "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in found)


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset({"a", "b", "c"})]


def test_beam_shells_import_neither_the_assembly_nor_the_commands():
    graph = import_graph()
    bad = sorted(f"{module} imports {target}" for module, targets in graph.items()
                 if module.startswith(SHELLS) for target in targets
                 if target.startswith(ABOVE_SHELLS))
    assert not bad, "\n".join(bad)


def test_the_pure_core_loads_no_beam_in_a_fresh_interpreter():
    modules = [m for m in module_files() if m.startswith(PURE_PACKAGES) or m in PURE_MODULES]
    assert len(modules) > 30
    code = ("import importlib, sys\n"
            f"for name in {sorted(modules)!r}:\n"
            "    importlib.import_module(name)\n"
            "    if 'apache_beam' in sys.modules:\n"
            "        print(name); break\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"importing {done.stdout.strip()} loads apache_beam"
