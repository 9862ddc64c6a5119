"""The report's data: every view's figures as one JSON-ready dict, computed from the index files.

This dict is embedded in the HTML as it is (the charts draw from it; the tests compare it with
the index files), so each view says which index it came from and, when it has nothing to show,
why (``message``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from pipeline.model import INDEX_ALARMS, INDEX_INVOCATIONS, INDEX_METRICS, INDEX_TRACES, iso_ms
from pipeline.report import alarms as alarm_view
from pipeline.report import coldstarts, series, traces
from pipeline.report.advice import advice_view
from pipeline.report.fields import OUTCOME_ORDER, end_ms, is_failed, is_throttle, percentiles, start_ms
from pipeline.report.load import RunDocs

PIPELINE_FUNCTION = "coldtrace-pipeline"  # MetricPoint.function_name of coldtrace's own health


def _time_range(run: RunDocs) -> tuple[int, int]:
    times = [start_ms(d) for d in run.invocations] + [end_ms(d) for d in run.invocations]
    times += [start_ms(d) for d in run.metrics] + [start_ms(d) for d in run.alarms]
    if not times:
        now = int(time.time() * 1000)
        return now, now
    return min(times), max(times)


def function_rows(docs: list[dict[str, Any]], cold: dict[str, dict[str, Any]],
                  throttles: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """One row per function; ``throttles`` (from the metrics index) is None when there is none."""
    by_fn: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in docs:
        by_fn[d.get("faas.name", "?")].append(d)
    rows = []
    for name in sorted(by_fn):
        fdocs = by_fn[name]
        outcomes = {o: 0 for o in OUTCOME_ORDER}
        for d in fdocs:
            outcomes[d.get("aws.lambda.outcome", "unfinished")] = outcomes.get(d.get("aws.lambda.outcome"), 0) + 1
        failed = sum(1 for d in fdocs if is_failed(d))
        dur = percentiles(float(d["aws.lambda.duration_ms"]) for d in fdocs if d.get("aws.lambda.duration_ms") is not None)
        util = percentiles(float(d["aws.lambda.memory_utilization"]) for d in fdocs
                           if d.get("aws.lambda.memory_utilization") is not None)
        c = cold[name]
        rows.append({
            "function": name, "runtime": c["runtime"], "memory_size_mb": c["memory_size_mb"],
            "invocations": len(fdocs), "failed": failed, "error_rate": round(failed / len(fdocs), 4),
            "errors": outcomes["error"], "timeouts": outcomes["timeout"], "out_of_memory": outcomes["out_of_memory"],
            "crashes": outcomes["crash"], "unfinished": outcomes["unfinished"],
            "cold_starts": c["cold_starts"], "cold_start_rate": c["cold_start_rate"],
            "duration_p50_ms": dur["p50"], "duration_p95_ms": dur["p95"], "duration_p99_ms": dur["p99"],
            "duration_max_ms": dur["max"], "init_p50_ms": c["init_p50_ms"], "init_p95_ms": c["init_p95_ms"],
            "init_p99_ms": c["init_p99_ms"],
            "max_memory_used_mb": max((d["aws.lambda.max_memory_used_mb"] for d in fdocs
                                       if d.get("aws.lambda.max_memory_used_mb") is not None), default=None),
            "memory_utilization_p50": util["p50"], "memory_utilization_p95": util["p95"],
            "memory_utilization_max": util["max"],
            "throttles": throttles.get(name, 0) if throttles is not None else None,
            "downstream_throttles": sum(1 for d in fdocs if is_throttle(d)), "peak_concurrency": c["peak_concurrency"],
            "cost_usd": round(sum(d.get("aws.lambda.estimated_cost_usd") or 0.0 for d in fdocs), 12),
        })
    return rows


def metric_docs(metrics: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """Metric windows that carry ``name``, one source per function: CloudWatch's own figures for a
    function that has them (``source: cloudwatch``), else what coldtrace computed from the logs —
    never both, which would count the same throttle twice."""
    field = f"aws.lambda.metrics.{name}"
    docs = [d for d in metrics if field in d]
    from_cloudwatch = {d.get("faas.name") for d in docs if d.get("coldtrace.metrics.source") == "cloudwatch"}
    return [d for d in docs
            if (d.get("coldtrace.metrics.source") == "cloudwatch") == (d.get("faas.name") in from_cloudwatch)]


def _sources(docs: list[dict[str, Any]]) -> str:
    return ", ".join(sorted({d.get("coldtrace.metrics.source", "logs") for d in docs}))


def function_throttles(metrics: list[dict[str, Any]]) -> dict[str, int]:
    """Invocations of each function that Lambda rejected, from the metrics index."""
    out: dict[str, int] = defaultdict(int)
    for d in metric_docs(metrics, "throttles"):
        out[d.get("faas.name", "?")] += int(d["aws.lambda.metrics.throttles"])
    return dict(out)


def throughput_view(run: RunDocs, inv_series: dict[str, Any], lo: int, hi: int) -> dict[str, Any]:
    top = [f for f in inv_series["functions"] if f != series.OTHER]
    view: dict[str, Any] = {"t": inv_series["t"], "interval_ms": inv_series["interval_ms"]}
    thr = metric_docs(run.metrics, "throttles")
    if thr:
        view["throttles"] = series.metric_series(thr, "throttles", lo, hi, top, "sum")
        view["throttles_source"] = (f"{INDEX_METRICS} (source: {_sources(thr)}): invocations Lambda rejected, "
                                    "from CloudWatch's Throttles or callers' TooManyRequestsException lines")
    else:
        view["throttles"] = {}
        view["throttles_message"] = ("no metrics index in this run: Lambda's throttles leave no line in the "
                                     "function's own log; the metrics stage counts them from callers' logs "
                                     "and CloudWatch's Throttles metric")
    down = metric_docs(run.metrics, "downstream_throttles")
    if down:
        view["downstream_throttles"] = series.metric_series(down, "downstream_throttles", lo, hi, top, "sum")
        view["downstream_source"] = f"{INDEX_METRICS} (source: {_sources(down)})"
    else:
        view["downstream_throttles"] = inv_series["downstream_throttles"]
        view["downstream_source"] = f"{INDEX_INVOCATIONS}: invocations that logged a throttling error"
    conc = metric_docs(run.metrics, "max_concurrency")
    if conc:
        view["concurrency"] = series.metric_series(conc, "max_concurrency", lo, hi, top, "max")
        view["concurrency_source"] = f"{INDEX_METRICS} (source: {_sources(conc)})"
    else:
        view["concurrency"] = inv_series["concurrency"]
        view["concurrency_source"] = f"{INDEX_INVOCATIONS}: overlapping invocations"
    return view


def iterator_age_view(run: RunDocs, lo: int, hi: int) -> dict[str, Any]:
    docs = [d for d in run.metrics if "aws.lambda.metrics.iterator_age_max_ms" in d]
    if not docs:
        why = ("no metrics index in this run" if run.counts.get(INDEX_METRICS) is None else
               "no iterator age in the metrics of this run")
        return {"message": f"{why}: iterator age comes from a stream source (Kinesis) or the CloudWatch "
                           "IteratorAge metric; file inputs have none"}
    interval, t = series.time_axis(lo, hi)
    return {"t": t, "interval_ms": interval, "source": INDEX_METRICS,
            "series": series.metric_series(docs, "iterator_age_max_ms", lo, hi, [], "max")}


def alarms_view(run: RunDocs, hi: int) -> dict[str, Any]:
    if not run.alarms:
        why = ("no alarms index in this run" if run.counts.get(INDEX_ALARMS) is None else "no alarms in this run")
        return {"message": why, "transitions": [], "lanes": []}
    rows = alarm_view.transitions(run.alarms)
    return {"source": INDEX_ALARMS, "transitions": rows, "lanes": alarm_view.lanes(rows, hi)}


def traces_view(run: RunDocs) -> dict[str, Any]:
    if run.spans:
        return {"source": INDEX_TRACES, "traces": traces.from_spans(run.spans)}
    why = "no traces indexed" + ("" if run.counts.get(INDEX_TRACES) is not None else " (no traces index in this run)")
    found = traces.from_invocations(run.invocations)
    if not found:
        return {"message": f"{why}, and no invocation carried a trace id", "traces": []}
    return {"message": f"{why}: waterfalls built from invocations that share an X-Ray trace id",
            "source": INDEX_INVOCATIONS, "traces": found}


def build_report(run: RunDocs, title: str = "coldtrace report") -> dict[str, Any]:
    lo, hi = _time_range(run)
    cold = coldstarts.analyze(run.invocations)
    cold_by_fn = {r["function"]: r for r in cold["functions"]}
    functions = function_rows(run.invocations, cold_by_fn,
                              function_throttles(run.metrics) if run.counts.get(INDEX_METRICS) is not None else None)
    top = series.top_functions({r["function"]: r["invocations"] for r in functions})
    inv_series = series.invocation_series(run.invocations, lo, hi, top)
    total_cost = sum(r["cost_usd"] for r in functions)
    return {
        "meta": {"title": title, "out_dir": run.out_dir, "generated": iso_ms(time.time() * 1000),
                 "start": iso_ms(lo), "end": iso_ms(hi), "documents": run.counts},
        "totals": {"functions": len(functions), "invocations": sum(r["invocations"] for r in functions),
                   "failed": sum(r["failed"] for r in functions),
                   "cold_starts": sum(r["cold_starts"] for r in functions),
                   "throttles": sum(r["throttles"] or 0 for r in functions),
                   "downstream_throttles": sum(r["downstream_throttles"] for r in functions),
                   "cost_usd": round(total_cost, 12),
                   "alarms": sum(1 for d in run.alarms if d.get("coldtrace.alarm.state") == "ALARM")},
        "functions": functions,
        "series": {**inv_series, "source": INDEX_INVOCATIONS},
        "throughput": throughput_view(run, inv_series, lo, hi),
        "iterator_age": iterator_age_view(run, lo, hi),
        "cost": sorted(({"function": r["function"], "cost_usd": r["cost_usd"], "invocations": r["invocations"],
                         "cost_per_million_usd": round(r["cost_usd"] / r["invocations"] * 1e6, 6),
                         "share": round(r["cost_usd"] / total_cost, 4) if total_cost else 0.0}
                        for r in functions), key=lambda r: (-r["cost_usd"], r["function"])),
        "cold_starts": cold,
        "alarms": alarms_view(run, hi),
        "traces": traces_view(run),
        "advice": advice_view(run),
    }
