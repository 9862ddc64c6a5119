"""Cold-start analysis: which functions, how often, how long, and what would fix it at what cost.

Pure: takes invocation documents (``Invocation.to_doc()``), from the index files, a log group
backfill or log files folded on the spot. Shared by the HTML report and
``coldtrace analyze-cold-starts``. Advice is given only where the data supports it: every rule
below names the figures it needs and its thresholds are the constants that follow.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Iterable

from pipeline.cost import provisioned_cost_per_hour
from pipeline.report.fields import (end_ms, infer_architecture, init_wait_ms, peak_concurrency, percentiles,
                                    runtime_family, start_ms)

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


def _group_row(docs: list[dict[str, Any]]) -> dict[str, Any]:
    cold = [d for d in docs if d.get("faas.coldstart")]
    inits = [w for w in map(init_wait_ms, cold) if w is not None]
    p = percentiles(inits)
    return {"invocations": len(docs), "cold_starts": len(cold),
            "cold_start_rate": round(len(cold) / len(docs), 4) if docs else 0.0,
            "init_p50_ms": p["p50"], "init_p95_ms": p["p95"], "init_p99_ms": p["p99"], "init_max_ms": p["max"],
            "init_total_s": round(sum(inits) / 1000.0, 3)}


def _runtime_of(docs: list[dict[str, Any]]) -> str | None:
    seen = Counter(runtime_family(d.get("aws.lambda.runtime_version")) for d in docs
                   if d.get("aws.lambda.runtime_version"))
    return seen.most_common(1)[0][0] if seen else None


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


def analyze(docs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Per function, per runtime, per memory size and per (function, runtime, memory) figures,
    what provisioned concurrency would cost, and advice."""
    by_fn: dict[str, list[dict[str, Any]]] = defaultdict(list)
    lo, hi = None, None
    for doc in docs:
        by_fn[doc.get("faas.name", "?")].append(doc)
        s, e = start_ms(doc), end_ms(doc)
        lo = s if lo is None or s < lo else lo
        hi = e if hi is None or e > hi else hi
    hours = max(((hi or 0) - (lo or 0)) / 3_600_000.0, 1 / 60.0)  # at least a minute
    functions, by_runtime, by_memory, breakdown = [], defaultdict(list), defaultdict(list), defaultdict(list)
    histograms: dict[str, dict[str, Any]] = {}
    for name in sorted(by_fn):
        fdocs = by_fn[name]
        runtime = _runtime_of(fdocs)
        memories = sorted({d["aws.lambda.memory_size_mb"] for d in fdocs if d.get("aws.lambda.memory_size_mb")})
        kinds = Counter(d.get("aws.lambda.cold_start_kind", "none") for d in fdocs)
        row = {"function": name, "runtime": runtime, "memory_size_mb": memories[-1] if memories else None,
               "memory_sizes_mb": memories, **_group_row(fdocs),
               "on_demand": kinds.get("on-demand", 0), "snapstart": kinds.get("snapstart", 0),
               "provisioned": kinds.get("provisioned", 0)}
        row["cold_starts_per_hour"] = round(row["cold_starts"] / hours, 2)
        row["peak_concurrency"] = peak_concurrency((start_ms(d), end_ms(d)) for d in fdocs)
        row["architecture"] = infer_architecture(fdocs)
        pc_hour = provisioned_cost_per_hour(row["memory_size_mb"] or 128, row["peak_concurrency"], row["architecture"])
        row["provisioned_cost_per_hour_usd"] = round(pc_hour, 6)
        row["provisioned_cost_per_month_usd"] = round(pc_hour * HOURS_PER_MONTH, 2)
        row["advice"] = advise(row)
        functions.append(row)
        histograms[name] = _histogram([w for w in map(init_wait_ms, fdocs) if w is not None])
        for d in fdocs:
            rt = runtime or "unknown"
            mem = d.get("aws.lambda.memory_size_mb") or 0
            by_runtime[rt].append(d)
            by_memory[mem].append(d)
            breakdown[(name, rt, mem)].append(d)
    return {
        "hours": round(hours, 4),
        "functions": functions,
        "by_runtime": [{"runtime": rt, "functions": len({d.get("faas.name") for d in ds}), **_group_row(ds)}
                       for rt, ds in sorted(by_runtime.items())],
        "by_memory": [{"memory_size_mb": mem, "functions": len({d.get("faas.name") for d in ds}), **_group_row(ds)}
                      for mem, ds in sorted(by_memory.items())],
        "breakdown": [{"function": fn, "runtime": rt, "memory_size_mb": mem, **_group_row(ds)}
                      for (fn, rt, mem), ds in sorted(breakdown.items())],
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
