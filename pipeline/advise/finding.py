"""A finding: one piece of advice for one function, and the projections every rule shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.advise.aggregate import FunctionAgg, Stats
from pipeline.advise.thresholds import HOURS_PER_MONTH, MEMORY_LADDER_MB, MIN_SPAN_HOURS
from pipeline.cost import PRICE_PER_GB_S, PRICE_PER_REQUEST

KINDS = ("version-regression", "runtime-update", "memory", "architecture", "provisioned-concurrency")
REGRESSION_KINDS = frozenset(("version-regression", "runtime-update"))


@dataclass
class Finding:
    """``current`` / ``recommended``: MB for ``memory``, the architecture, the number of provisioned
    environments, the version or the runtime version for the others. ``monthly_savings_usd`` is
    None where money is not the point (regressions); negative where the advice costs money (more
    memory against out-of-memory kills, provisioned concurrency)."""

    function: str
    kind: str
    current: Any
    recommended: Any
    monthly_savings_usd: float | None
    evidence: str
    caveat: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = {"function": self.function, "kind": self.kind, "current": self.current,
               "recommended": self.recommended, "monthly_savings_usd": self.monthly_savings_usd,
               "evidence": self.evidence}
        if self.caveat:
            out["caveat"] = self.caveat
        if self.details:
            out["details"] = self.details
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Finding:
        return cls(d["function"], d["kind"], d["current"], d["recommended"], d["monthly_savings_usd"],
                   d["evidence"], d.get("caveat"), d.get("details") or {})


def span_hours(stats: Stats) -> float:
    """How long the run watched the function (first start to last end), at least a minute."""
    if stats.first_ms is None or stats.last_ms is None:
        return MIN_SPAN_HOURS
    return max((stats.last_ms - stats.first_ms) / 3_600_000.0, MIN_SPAN_HOURS)


def monthly_factor(fn: FunctionAgg) -> float:
    """Multiply a figure of the run by this to get a month at the observed rate."""
    return HOURS_PER_MONTH / span_hours(fn.overall)


def monthly_invocations(fn: FunctionAgg) -> float:
    return fn.overall.n * monthly_factor(fn)


def cost_per_invocation(mean_billed_ms: float, memory_mb: int, architecture: str) -> float:
    price = PRICE_PER_GB_S.get(architecture, PRICE_PER_GB_S["x86_64"])
    return (memory_mb / 1024.0) * (mean_billed_ms / 1000.0) * price + PRICE_PER_REQUEST


def mean_billed_ms(stats: Stats) -> float | None:
    return stats.billed_ms_sum / stats.billed.count if stats.billed.count else None


def mean_success_billed_ms(stats: Stats) -> float | None:
    """Mean billed duration of the successful invocations: what memory can change (a timeout bills
    the timeout, an error or a crash the time to the bug, at any size)."""
    return stats.success_billed_ms_sum / stats.success_billed_n if stats.success_billed_n else None


def ladder_at_least(mb: float) -> int:
    """The smallest advised memory size of at least ``mb`` (Lambda's maximum if none is)."""
    return next((m for m in MEMORY_LADDER_MB if m >= mb), MEMORY_LADDER_MB[-1])


def usd(value: float) -> str:
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:.3g}"


def ms(value: float | None) -> str:
    return "–" if value is None else (f"{value:,.0f} ms" if value >= 10 else f"{value:.2f} ms")
