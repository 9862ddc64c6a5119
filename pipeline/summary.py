"""The run summary: per function invocations, cold starts, duration and init percentiles,
errors, timeouts, OOMs and cost — computed from the invocation documents that were indexed,
so the summary can never disagree with the index files.
"""

from __future__ import annotations

import functools
import math
import os
from collections import defaultdict
from typing import Any, Iterable

from pipeline.model import INDEX_ALARMS, INDEX_DEADLETTER, INDEX_INVOCATIONS, INDEX_LOGS, INDEX_METRICS, INDEX_TRACES
from pipeline.sinks.index_files import index_path, latest_docs, read_docs


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize_invocations(docs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-function figures from invocation documents."""
    acc: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "invocations": 0, "cold_starts": 0, "provisioned_inits": 0, "errors": 0, "timeouts": 0,
        "out_of_memory": 0, "crashes": 0, "unfinished": 0, "cost_usd": 0.0, "_dur": [], "_init": []})
    outcome_key = {"error": "errors", "timeout": "timeouts", "out_of_memory": "out_of_memory",
                   "crash": "crashes", "unfinished": "unfinished"}
    for doc in docs:
        f = acc[doc.get("faas.name", "?")]
        f["invocations"] += 1
        if doc.get("faas.coldstart"):
            f["cold_starts"] += 1
            init = doc.get("aws.lambda.init_duration_ms") or doc.get("aws.lambda.restore_duration_ms")
            if init is not None:
                f["_init"].append(float(init))
        if doc.get("aws.lambda.cold_start_kind") == "provisioned":
            f["provisioned_inits"] += 1
        key = outcome_key.get(doc.get("aws.lambda.outcome", ""))
        if key:
            f[key] += 1
        if doc.get("aws.lambda.duration_ms") is not None:
            f["_dur"].append(float(doc["aws.lambda.duration_ms"]))
        f["cost_usd"] += doc.get("aws.lambda.estimated_cost_usd") or 0.0
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(acc):
        f = acc[name]
        dur, init = sorted(f.pop("_dur")), sorted(f.pop("_init"))
        f["cold_start_rate"] = round(f["cold_starts"] / f["invocations"], 4) if f["invocations"] else 0.0
        for q in (50, 95, 99):
            f[f"duration_p{q}_ms"] = percentile(dur, q)
            f[f"init_p{q}_ms"] = percentile(init, q)
        f["cost_usd"] = round(f["cost_usd"], 6)
        out[name] = f
    return out


def summarize_traces(docs: Iterable[dict[str, Any]], slowest: int = 5) -> dict[str, Any]:
    """Trace-level facts from span documents: the root span of each trace carries them."""
    import heapq
    from collections import Counter

    roots = [d for d in docs if "coldtrace.trace.invocations" in d]
    n = len(roots)
    cold = sum(1 for d in roots if d.get("coldtrace.trace.critical_path_cold_start"))
    weakest = Counter(d["coldtrace.trace.weakest_link"] for d in roots if d.get("coldtrace.trace.weakest_link"))
    slow = heapq.nlargest(slowest, roots, key=lambda d: (d["coldtrace.trace.duration_ms"], d["trace.id"]))
    return {
        "traces": n,
        "multi_function_traces": sum(1 for d in roots if d["coldtrace.trace.functions"] > 1),
        "mean_functions_per_trace": round(sum(d["coldtrace.trace.functions"] for d in roots) / n, 3) if n else 0.0,
        "cold_start_on_critical_path": cold,
        "cold_start_on_critical_path_rate": round(cold / n, 4) if n else 0.0,
        "weakest_links": dict(weakest.most_common()),
        "slowest": [{"trace_id": d["trace.id"], "duration_ms": d["coldtrace.trace.duration_ms"],
                     "root": d.get("faas.name"), "critical_path": d.get("coldtrace.trace.critical_path", []),
                     "cold_start_on_critical_path": bool(d.get("coldtrace.trace.critical_path_cold_start")),
                     "weakest_link": d.get("coldtrace.trace.weakest_link")} for d in slow],
    }


def count_docs(path: str) -> int:
    """Documents in a bulk-format file (non-blank lines over two). The ledger and the summary
    both ask after a run: a file unchanged since (same size and mtime) is read once."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return 0
    return _count_docs(path, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _count_docs(path: str, _size: int, _mtime_ns: int) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip()) // 2


def summarize_alarms(docs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Alarm transitions in time order, how many were raised and cleared, and which rules are
    still in ALARM at the end of the data."""
    rows = sorted(({"time": d.get("@timestamp"), "function": d.get("faas.name"), "rule": d.get("rule.name"),
                    "state": d.get("coldtrace.alarm.state"), "previous_state": d.get("coldtrace.alarm.previous_state"),
                    "severity": d.get("coldtrace.alarm.severity"), "window_start": d.get("event.start"),
                    "reason": d.get("message")} for d in docs),
                  key=lambda r: (r["time"] or "", r["function"] or "", r["rule"] or ""))
    last: dict[tuple[str, str], str] = {}
    for r in rows:
        last[(r["function"], r["rule"])] = r["state"]
    return {"raised": sum(r["state"] == "ALARM" for r in rows), "cleared": sum(r["state"] == "OK" for r in rows),
            "active": sorted(f"{fn} {rule}" for (fn, rule), state in last.items() if state == "ALARM"),
            "transitions": rows}


def summarize_out(out_dir: str, loaded: Any = None) -> dict[str, Any]:
    """The summary of a finished run, read back from its index files — or from ``loaded`` (a
    ``pipeline.report.load.RunDocs`` of the same run), so a run that also writes its report
    reads the big files once."""
    inv_path = index_path(out_dir, INDEX_INVOCATIONS)
    trace_path = index_path(out_dir, INDEX_TRACES)
    alarm_path = index_path(out_dir, INDEX_ALARMS)
    if loaded is not None:
        spans, docs, alarms = loaded.spans, iter(loaded.invocations), iter(loaded.alarms)
    else:
        spans = list(latest_docs(trace_path).values()) if os.path.exists(trace_path) else []  # re-emitted: the last
        docs = read_docs(inv_path) if os.path.exists(inv_path) else iter(())
        alarms = read_docs(alarm_path) if os.path.exists(alarm_path) else iter(())
    functions = summarize_invocations(docs)
    totals = {k: sum(f[k] for f in functions.values())
              for k in ("invocations", "cold_starts", "errors", "timeouts", "out_of_memory", "crashes",
                        "unfinished")}
    totals["cost_usd"] = round(sum(f["cost_usd"] for f in functions.values()), 6)
    return {"functions": functions, "totals": totals,
            "documents": {INDEX_LOGS: count_docs(index_path(out_dir, INDEX_LOGS)),
                          INDEX_INVOCATIONS: count_docs(inv_path),
                          INDEX_DEADLETTER: count_docs(index_path(out_dir, INDEX_DEADLETTER)),
                          INDEX_TRACES: len(spans),
                          INDEX_METRICS: count_docs(index_path(out_dir, INDEX_METRICS)),
                          INDEX_ALARMS: count_docs(index_path(out_dir, INDEX_ALARMS))},
            "alarms": summarize_alarms(alarms),
            "traces": summarize_traces(spans)}
