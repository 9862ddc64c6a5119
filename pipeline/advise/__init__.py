"""Advice no forwarder gives: right-size memory, move to arm64, size provisioned concurrency, and
catch the deploy or the runtime update that broke a function.

Pure (no Beam): ``AdviceAggregate`` is built as invocations go by and merged across workers;
``advise(aggregate)`` turns it into findings. Thresholds and their reasons: ``thresholds``.
"""

from __future__ import annotations

from pipeline.advise.aggregate import AdviceAggregate, FunctionAgg, Stats
from pipeline.advise.architecture import architecture
from pipeline.advise.finding import KINDS, REGRESSION_KINDS, Finding
from pipeline.advise.memory import memory
from pipeline.advise.provisioned import provisioned_concurrency
from pipeline.advise.regressions import runtime_update, version_regression

RULES = {"version-regression": version_regression, "runtime-update": runtime_update, "memory": memory,
         "architecture": architecture, "provisioned-concurrency": provisioned_concurrency}


def advise(aggregate: AdviceAggregate) -> list[Finding]:
    """Every finding, most urgent first: regressions, then functions killed for memory, then the
    rest by monthly saving (largest first)."""
    out: list[Finding] = []
    for name, fn in sorted(aggregate.functions.items()):
        for kind in KINDS:
            out.extend(RULES[kind](name, fn))
    return sorted(out, key=lambda f: (_urgency(f), -(f.monthly_savings_usd or 0.0), KINDS.index(f.kind), f.function))


def _urgency(f: Finding) -> int:
    if f.kind in REGRESSION_KINDS:
        return 0
    return 1 if f.kind == "memory" and f.recommended > f.current else 2


__all__ = ["KINDS", "REGRESSION_KINDS", "AdviceAggregate", "Finding", "FunctionAgg", "Stats", "advise",
           "architecture", "memory", "provisioned_concurrency", "runtime_update", "version_regression"]
