"""Provisioned-concurrency advice: the cold-start analysis's own rule (pipeline/report/coldstarts.py),
fed from the aggregate instead of the documents, so the two never disagree on what to advise."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pipeline.advise.aggregate import FunctionAgg
from pipeline.advise.finding import Finding, span_hours
from pipeline.cost import provisioned_cost_per_hour
from pipeline.report import coldstarts
from pipeline.report.fields import runtime_family


def cold_start_row(fn: FunctionAgg) -> dict[str, Any]:
    """The figures ``coldstarts.advise`` reads, as ``coldstarts.analyze`` would compute them (init
    percentiles from the sketch: within its 0.5 % relative accuracy)."""
    s = fn.overall
    kinds = s.cold
    cold = kinds.get("on-demand", 0) + kinds.get("snapstart", 0)
    families: Counter = Counter()
    for runtimes in fn.runtimes.values():
        for rt, stats in runtimes.items():
            families[runtime_family(rt)] += stats.n
    memory = fn.current_memory_mb or 128
    peak = fn.peak_concurrency
    per_hour = provisioned_cost_per_hour(memory, peak, fn.architecture)
    return {"invocations": s.n, "cold_starts": cold, "cold_start_rate": round(cold / s.n, 4) if s.n else 0.0,
            "init_p50_ms": s.init.quantile(0.5), "init_p95_ms": s.init.quantile(0.95),
            "on_demand": kinds.get("on-demand", 0), "snapstart": kinds.get("snapstart", 0),
            "provisioned": kinds.get("provisioned", 0),
            "runtime": families.most_common(1)[0][0] if families else None, "memory_size_mb": memory,
            "peak_concurrency": peak, "architecture": fn.architecture,
            "cold_starts_per_hour": round(cold / span_hours(s), 2),
            "provisioned_cost_per_hour_usd": round(per_hour, 6),
            "provisioned_cost_per_month_usd": round(per_hour * coldstarts.HOURS_PER_MONTH, 2)}


def provisioned_concurrency(name: str, fn: FunctionAgg) -> list[Finding]:
    row = cold_start_row(fn)
    out = []
    for advice in coldstarts.advise(row):
        if advice["kind"] != "provisioned-concurrency":
            continue
        current = row["provisioned"]       # environments initialised as provisioned
        # on-demand cold starts beside provisioned environments: demand outran them at some moment,
        # so at least one more, even where the peak the run saw equals what is provisioned
        target = max(row["peak_concurrency"], current + 1) if current else row["peak_concurrency"]
        extra = provisioned_cost_per_hour(row["memory_size_mb"], target - current, fn.architecture)
        out.append(Finding(name, "provisioned-concurrency", current, target,
                           -round(extra * coldstarts.HOURS_PER_MONTH, 2), advice["text"],
                           caveat="the saving is negative: what the added provisioned environments cost a month",
                           details={k: row[k] for k in ("cold_starts", "cold_start_rate", "init_p95_ms",
                                                        "peak_concurrency")}))
    return out
