"""Cold-start analysis: which functions, how often, how long, and what would fix it at what cost.

Pure: takes a run's ``ReportAggregate`` or invocation documents (``Invocation.to_doc()``, from a
log group backfill or log files folded on the spot). Shared by the HTML report and
``coldtrace analyze-cold-starts``. Advice is given only where the data supports it: every rule
below names the figures it needs and its thresholds are the constants that follow.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Iterable

import numpy as np

from pipeline.cost import provisioned_cost_per_hour
from pipeline.report.aggregates import ReportAggregate
from pipeline.report.fields import percentiles
from pipeline.report.function_figures import FunctionFigures, Group
from pipeline.report.series import sweep

# Fewer cold starts than this in a function: too few to advise anything.
MIN_COLD_STARTS = 5
# Provisioned concurrency pays off when callers often wait, and wait long: at least 1 % of
# requests were cold starts and their p95 init was at least 250 ms.
PC_MIN_RATE = 0.01
PC_MIN_INIT_P95_MS = 250.0
# SnapStart (Java 11+, Python 3.12+, .NET 8+) replaces init by a restore of a snapshot; it is
# worth it when the median on-demand init is at least 1 s.
SNAPSTART_MIN_INIT_P50_MS = 1000.0
SNAPSTART_RUNTIMES = {"java": 11, "python": 3.12, "dotnet": 8}
# A median init this long, for the runtime's family, points at the package and what the init
# code loads (interpreted and native runtimes start in tens to hundreds of ms when lean).
PACKAGE_INIT_P50_MS = {"python": 800.0, "nodejs": 800.0, "ruby": 800.0, "provided": 300.0,
                       "go": 300.0, "java": 2500.0, "dotnet": 2500.0}
HOURS_PER_MONTH = 730.0
HISTOGRAM_BINS = 12


def _language(family: str | None) -> tuple[str | None, float | None]:
    """``python:3.12`` → ("python", 3.12); ``provided:al2023`` → ("provided", None)."""
    if not family:
        return None, None
    name, _, version = family.partition(":")
    try:
        return name, float(version)
    except ValueError:
        return name, None


def _group_row(groups: list[Group]) -> dict[str, Any]:
    n = sum(g.invocations for g in groups)
    cold = sum(g.cold_starts for g in groups)
    inits = [v for g in groups for v in g.inits]
    p = percentiles(inits)
    return {"invocations": n, "cold_starts": cold, "cold_start_rate": round(cold / n, 4) if n else 0.0,
            "init_p50_ms": p["p50"], "init_p95_ms": p["p95"], "init_p99_ms": p["p99"], "init_max_ms": p["max"],
            "init_total_s": round(math.fsum(inits) / 1000.0, 3)}


def _histogram(values: list[float], bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
    """Equal-width bins from 0 to the largest value, rounded to a readable width."""
    if not values:
        return {"width_ms": 0, "counts": []}
    top = max(values)
    raw = max(top / bins, 1.0)
    width = next(w for w in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000,
                             20000, 50000, 10 ** 9) if w >= raw)
    counts = [0] * (int(top // width) + 1)
    for v in values:
        counts[int(v // width)] += 1
    return {"width_ms": width, "counts": counts}


def runtime_of(f: FunctionFigures) -> str | None:
    """The runtime most of the function's cold starts reported."""
    return f.runtimes.most_common(1)[0][0] if f.runtimes else None


def analyze(docs: Iterable[dict[str, Any]] | ReportAggregate) -> dict[str, Any]:
    """Per function, per runtime, per memory size and per (function, runtime, memory) figures,
    what provisioned concurrency would cost, and advice — from invocation documents or a run's
    aggregate."""
    agg = docs if isinstance(docs, ReportAggregate) else ReportAggregate.of(docs)
    hours = max(((agg.inv_hi or 0) - (agg.inv_lo or 0)) / 3_600_000.0, 1 / 60.0)  # at least a minute
    functions, histograms = [], {}
    by_runtime: dict[str, list[tuple[str, Group]]] = defaultdict(list)
    by_memory: dict[int, list[tuple[str, Group]]] = defaultdict(list)
    breakdown: dict[tuple[str, str, int], list[Group]] = defaultdict(list)
    for name in sorted(agg.functions):
        f = agg.functions[name]
        runtime = runtime_of(f)
        memories = sorted(m for m in f.groups if m)
        row = {"function": name, "runtime": runtime, "memory_size_mb": memories[-1] if memories else None,
               "memory_sizes_mb": memories, **_group_row(list(f.groups.values())),
               "on_demand": f.kinds.get("on-demand", 0), "snapstart": f.kinds.get("snapstart", 0),
               "provisioned": f.kinds.get("provisioned", 0)}
        row["cold_starts_per_hour"] = round(row["cold_starts"] / hours, 2)
        row["peak_concurrency"] = sweep(np.frombuffer(f.starts, dtype=np.int64), np.frombuffer(f.ends, dtype=np.int64))[0]
        row["architecture"] = f.architecture
        pc_hour = provisioned_cost_per_hour(row["memory_size_mb"] or 128, row["peak_concurrency"], row["architecture"])
        row["provisioned_cost_per_hour_usd"] = round(pc_hour, 6)
        row["provisioned_cost_per_month_usd"] = round(pc_hour * HOURS_PER_MONTH, 2)
        row["advice"] = advise(row)
        functions.append(row)
        histograms[name] = _histogram(f.inits)
        rt = runtime or "unknown"
        for mem, g in f.groups.items():
            by_runtime[rt].append((name, g))
            by_memory[mem].append((name, g))
            breakdown[(name, rt, mem)].append(g)
    return {
        "hours": round(hours, 4),
        "functions": functions,
        "by_runtime": [{"runtime": rt, "functions": len({fn for fn, _ in gs}), **_group_row([g for _, g in gs])}
                       for rt, gs in sorted(by_runtime.items())],
        "by_memory": [{"memory_size_mb": mem, "functions": len({fn for fn, _ in gs}), **_group_row([g for _, g in gs])}
                      for mem, gs in sorted(by_memory.items())],
        "breakdown": [{"function": fn, "runtime": rt, "memory_size_mb": mem, **_group_row(gs)}
                      for (fn, rt, mem), gs in sorted(breakdown.items())],
        "histograms": histograms,
    }


def advise(row: dict[str, Any]) -> list[dict[str, str]]:
    """Advice for one function's row; empty when the data does not support any."""
    out: list[dict[str, str]] = []
    cold, p50, p95 = row["cold_starts"], row["init_p50_ms"], row["init_p95_ms"]
    if row["provisioned"] and row["on_demand"]:
        out.append({"kind": "provisioned-concurrency",
                    "text": f"{row['on_demand']} on-demand cold starts beside provisioned environments: "
                            f"provisioned concurrency is below the peak of {row['peak_concurrency']} "
                            "concurrent invocations"})
    if cold < MIN_COLD_STARTS or p50 is None or p95 is None:
        return out
    lang, version = _language(row["runtime"])
    if (row["cold_start_rate"] >= PC_MIN_RATE and p95 >= PC_MIN_INIT_P95_MS and not row["provisioned"]):
        out.append({"kind": "provisioned-concurrency",
                    "text": f"{100 * row['cold_start_rate']:.1f} % of requests waited for an init "
                            f"(p95 {p95:,.0f} ms): provisioned concurrency of {row['peak_concurrency']} "
                            f"(the peak) would cost about ${row['provisioned_cost_per_hour_usd']:.4f}/hour "
                            f"(${row['provisioned_cost_per_month_usd']:,.2f}/month)"})
    min_version = SNAPSTART_RUNTIMES.get(lang or "")
    if (min_version is not None and version is not None and version >= min_version and not row["snapstart"]
            and p50 >= SNAPSTART_MIN_INIT_P50_MS):
        out.append({"kind": "snapstart",
                    "text": f"init p50 {p50:,.0f} ms on {row['runtime']}: SnapStart would restore a snapshot "
                            "instead of running the init"})
    limit = PACKAGE_INIT_P50_MS.get(lang or "")
    if limit is not None and p50 >= limit and not row["snapstart"]:
        out.append({"kind": "package-size",
                    "text": f"init p50 {p50:,.0f} ms is long for {row['runtime']} (over {limit:,.0f} ms): "
                            "trim the deployment package and defer imports and clients the handler "
                            "does not always need"})
    return out
