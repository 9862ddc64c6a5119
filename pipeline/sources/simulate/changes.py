"""Changes mid-run, what operators and Lambda do to a live fleet, so that advice can be held
against known facts: a memory resize (a configuration change), a deploy that regresses (a new
function version: p95 x4, errors x8), and a runtime update Lambda applies under the same
function version (a new Runtime Version and ARN on INIT_START, followed by errors).

``FleetConfig.changes`` holds them (``DEFAULT_CHANGES``, or ``()`` for a steady fleet). Each
change happens at a fraction of the window to a function named in it (a fleet without that
function has no such change). At that moment the function's spec is replaced and its environments
are retired, as Lambda does after a configuration change, a deploy or a runtime update: the next
invocations start new environments (cold starts) under the new configuration. Each change is
recorded in the truth (``functions[name]["changes"]``).
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from pipeline.sources.simulate.environments import _Pool
from pipeline.sources.simulate.spec import DEFAULT_CHANGES, Change

# ``fleet`` below is the simulator's engine._Fleet (not imported: the engine imports this module).
_Fleet = Any

__all__ = ["Change", "DEFAULT_CHANGES", "FleetChanges"]


def _next_runtime_version(current: str) -> str:
    """``nodejs:20.v33`` → ``nodejs:20.v34``."""
    head, _, tail = current.rpartition(".v")
    return f"{head}.v{int(tail) + 1}" if tail.isdigit() else f"{current}.v1"


class FleetChanges:
    """The fleet's pending changes, applied in event time by ``apply(t)`` before each invocation."""

    def __init__(self, fleet: _Fleet, changes: tuple[Change, ...], runtime_versions: dict[str, str]) -> None:
        # each function's runtime version (by runtime: spec._RUNTIME_VERSION), read by its
        # INIT_START / RESTORE_START lines
        fleet.runtime_versions = {s.name: runtime_versions[s.runtime] for s in fleet.specs}
        by_name = {s.name: s.index for s in fleet.specs}
        window = fleet.end_ms - fleet.c.start_ms
        self.pending = sorted(((fleet.c.start_ms + c.at * window, by_name[c.function], c)
                               for c in changes if c.function in by_name), key=lambda p: p[0])
        for _, index, change in self.pending:
            if change.kind == "memory-resize":       # never out of memory, before or after
                fleet.specs[index] = replace(fleet.specs[index], p_oom=0.0)

    def apply(self, fleet: _Fleet, t: float) -> None:
        while self.pending and self.pending[0][0] <= t:
            at, index, change = self.pending.pop(0)
            self._apply(fleet, int(at), index, change)

    def _apply(self, fleet: _Fleet, at: int, index: int, change: Change) -> None:
        spec = fleet.specs[index]
        record: dict[str, Any] = {"kind": change.kind, "at_ms": at}
        new = replace(spec, median_ms=spec.median_ms * change.duration_factor,
                      p_error=min(spec.p_error * change.error_factor, 0.5))
        if change.memory_mb:
            record.update({"from": spec.memory_mb, "to": change.memory_mb})
            new = replace(new, memory_mb=change.memory_mb)
        if change.version:
            record.update({"from": spec.version, "to": change.version})
            new = replace(new, version=change.version)
        if change.kind == "runtime-update":
            old = fleet.runtime_versions[spec.name]
            rv = change.runtime_version or _next_runtime_version(old)
            record.update({"from": old, "to": rv})
            fleet.runtime_versions[spec.name] = rv
            fleet.arns[spec.name] = (f"arn:aws:lambda:{fleet.c.region}::runtime:"
                                     f"{random.Random(f'{spec.name}:{rv}').getrandbits(256):064x}")
        fleet.specs[index] = new
        fleet.pools[index] = _Pool()                    # the old environments are retired
        fleet.stats[spec.name].setdefault("changes", []).append(record)
