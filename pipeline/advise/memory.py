"""Memory advice: raise a function that is killed for memory, cut one that never uses what it has.

Never below the largest Max Memory Used plus headroom. Where the function ran at several memory
sizes with enough invocations at each, the measured mean billed duration at each size decides
(Lambda's CPU share scales with memory, so a bigger size can be cheaper for a CPU-bound
function); where it ran at one size, a cut is estimated at the same billed duration and the
advice says when that assumption may not hold.
"""

from __future__ import annotations

from pipeline.advise.aggregate import FunctionAgg, Stats
from pipeline.advise.finding import (
    Finding,
    cost_per_invocation,
    ladder_at_least,
    mean_billed_ms,
    mean_success_billed_ms,
    monthly_factor,
    ms,
    usd,
)
from pipeline.advise.thresholds import (
    CPU_BOUND_MIN_P50_MS,
    MEMORY_HEADROOM,
    MEMORY_MIN_SAVING_SHARE,
    MIN_MEMORY_MB,
    MIN_MEMORY_SAMPLES,
    MIN_MONTHLY_SAVINGS_USD,
    ONE_VCPU_MB,
    OOM_MIN_COUNT,
    OOM_MIN_RATE,
    OOM_RAISE_FACTOR,
)


def _monthly_cost(fn: FunctionAgg, stats: Stats, memory_mb: int, billed_ms: float) -> float:
    """What the function's traffic would cost a month at ``memory_mb`` and this mean billed duration."""
    return fn.overall.n * monthly_factor(fn) * cost_per_invocation(billed_ms, memory_mb, fn.architecture)


def memory(name: str, fn: FunctionAgg) -> list[Finding]:
    current = fn.current_memory_mb
    if current is None:
        return []
    now = fn.memories[current]
    billed = mean_billed_ms(now)
    if now.n < MIN_MEMORY_SAMPLES or billed is None or now.used.count == 0:
        return []
    cost_now = _monthly_cost(fn, now, current, billed)
    if now.oom >= OOM_MIN_COUNT and now.oom / now.n >= OOM_MIN_RATE:
        raised = ladder_at_least(current * OOM_RAISE_FACTOR)
        return [Finding(
            name, "memory", current, raised, round(cost_now - _monthly_cost(fn, now, raised, billed), 2),
            f"{now.oom:,} of {now.n:,} invocations at {current:,} MB ({now.oom / now.n:.1%}) were killed for lack "
            f"of memory (outcome out_of_memory): raise it to {raised:,} MB",
            caveat="the saving is negative: the estimate at the same billed duration of what more memory costs",
            details={"out_of_memory": now.oom, "invocations": now.n})]
    used_max = max(s.used.max for s in fn.memories.values() if s.used.count)
    need = max(used_max * (1 + MEMORY_HEADROOM), MIN_MEMORY_MB)
    measured = {m: s for m, s in fn.memories.items() if s.success_billed_n >= MIN_MEMORY_SAMPLES
                and m >= need and s.oom / s.n < OOM_MIN_RATE}
    if len(measured) >= 2 and current in measured:
        return _from_measured(name, fn, current, measured, used_max, cost_now)
    target = ladder_at_least(need)
    if target >= current:
        return []
    saving = cost_now - _monthly_cost(fn, now, target, billed)
    if saving < max(MIN_MONTHLY_SAVINGS_USD, MEMORY_MIN_SAVING_SHARE * cost_now):
        return []
    p50 = now.duration.quantile(0.5)
    caveat = None
    if target < ONE_VCPU_MB and p50 is not None and p50 >= CPU_BOUND_MIN_P50_MS:
        caveat = (f"CPU share scales with memory: at {target:,} MB the function gets {target / current:.0%} of the CPU "
                  f"it has at {current:,} MB; if its {ms(p50)} p50 is CPU-bound it may run up to "
                  f"{current / target:.1f}x longer, which would eat the saving: compare p95 after the change")
    return [Finding(
        name, "memory", current, target, round(saving, 2),
        f"at {current:,} MB the largest Max Memory Used of {now.n:,} invocations was {used_max:,.0f} MB "
        f"({used_max / current:.0%} of the memory); {target:,} MB keeps {MEMORY_HEADROOM:.0%} headroom and at the "
        f"same billed duration (mean {ms(billed)}) saves {usd(saving)} a month at the observed rate",
        caveat=caveat, details={"max_memory_used_mb": used_max, "invocations": now.n, "measured": False})]


def _from_measured(name: str, fn: FunctionAgg, current: int, measured: dict[int, Stats], used_max: float,
                   cost_now: float) -> list[Finding]:
    """The function ran at several sizes: the cheapest measured one wins, compared on the billed
    duration of successful invocations (timeouts and crashes would otherwise decide it)."""
    costs = {m: _monthly_cost(fn, s, m, mean_success_billed_ms(s)) for m, s in measured.items()}
    best = min(sorted(costs), key=costs.get)
    cost_now = costs[current]
    saving = cost_now - costs[best]
    if best == current or saving < max(MIN_MONTHLY_SAVINGS_USD, MEMORY_MIN_SAVING_SHARE * cost_now):
        return []
    sizes = "; ".join(f"{m:,} MB: {s.n:,} invocations, p50 {ms(s.duration.quantile(0.5))}, "
                      f"mean billed {ms(mean_success_billed_ms(s))}" for m, s in sorted(measured.items()))
    return [Finding(
        name, "memory", current, best, round(saving, 2),
        f"measured at several sizes (successful invocations; {sizes}) with at most {used_max:,.0f} MB used: {best:,} MB costs "
        f"{usd(costs[best])} a month against {usd(cost_now)} at {current:,} MB at the observed rate",
        details={"max_memory_used_mb": used_max, "measured": True,
                 "sizes": {str(m): {"invocations": s.n, "duration_p50_ms": s.duration.quantile(0.5),
                                    "duration_p95_ms": s.duration.quantile(0.95),
                                    "mean_success_billed_ms": round(mean_success_billed_ms(s), 3)}
                           for m, s in sorted(measured.items())}})]
