"""The report's data: every view's figures as one JSON-ready dict, computed from the run's
``ReportAggregate`` (written by the pipeline, or folded from the index files line by line).

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
from pipeline.report.aggregates import ReportAggregate
from pipeline.report.fields import FAILED_OUTCOMES, OUTCOME_ORDER, sketch_percentiles
from pipeline.report.load import RunDocs

PIPELINE_FUNCTION = "coldtrace-pipeline"  # MetricPoint.function_name of coldtrace's own health


def _time_range(run: ReportAggregate) -> tuple[int, int]:
    if run.lo is None:
        now = int(time.time() * 1000)
        return now, now
    return run.lo, run.hi


def function_rows(run: ReportAggregate, cold: dict[str, dict[str, Any]],
                  throttles: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """One row per function; ``throttles`` (from the metrics index) is None when there is none."""
    rows = []
    for name in sorted(run.functions):
        f = run.functions[name]
        outcomes = {o: f.outcomes.get(o, 0) for o in OUTCOME_ORDER}
        failed = sum(f.outcomes.get(o, 0) for o in FAILED_OUTCOMES)
        dur = sketch_percentiles(f.durations)
        util = sketch_percentiles(f.utilization, digits=4)
        c = cold[name]
        rows.append({
            "function": name, "runtime": c["runtime"], "memory_size_mb": c["memory_size_mb"],
            "invocations": f.invocations, "failed": failed, "error_rate": round(failed / f.invocations, 4),
            "errors": outcomes["error"], "timeouts": outcomes["timeout"], "out_of_memory": outcomes["out_of_memory"],
            "crashes": outcomes["crash"], "unfinished": outcomes["unfinished"],
            "cold_starts": c["cold_starts"], "cold_start_rate": c["cold_start_rate"],
            "duration_p50_ms": dur["p50"], "duration_p95_ms": dur["p95"], "duration_p99_ms": dur["p99"],
            "duration_max_ms": dur["max"], "init_p50_ms": c["init_p50_ms"], "init_p95_ms": c["init_p95_ms"],
            "init_p99_ms": c["init_p99_ms"],
            "max_memory_used_mb": f.max_memory_used,
            "memory_utilization_p50": util["p50"], "memory_utilization_p95": util["p95"],
            "memory_utilization_max": util["max"],
            "throttles": throttles.get(name, 0) if throttles is not None else None,
            "downstream_throttles": f.downstream_throttles, "peak_concurrency": c["peak_concurrency"],
            "cost_usd": round(f.cost_usd, 12),
        })
    return rows


def from_cloudwatch(run: ReportAggregate, name: str) -> dict[str, bool]:
    """Per function with metric ``name``: is it read from CloudWatch's own figures? A function
    that has them (``source: cloudwatch``) is read from those, else from what coldtrace computed
    from the logs — never both, which would count the same throttle twice."""
    return {fn: "cloudwatch" in seen for (metric, fn), seen in run.metric_sources.items() if metric == name}


def _metric(run: ReportAggregate, name: str, lo: int, hi: int, top: list[str], how: str):
    """(series, its sources) of a metric of the metrics index; (None, "") when no window has it."""
    cw = from_cloudwatch(run, name)
    if not cw:
        return None, ""
    sources = {s for (metric, fn), seen in run.metric_sources.items() if metric == name
               for s in seen if (s == "cloudwatch") == cw[fn]}
    return series.metric_series(run, name, lo, hi, top, how, cw), ", ".join(sorted(sources))


def function_throttles(run: ReportAggregate) -> dict[str, int]:
    """Invocations of each function that Lambda rejected, from the metrics index."""
    cw = from_cloudwatch(run, "throttles")
    out: dict[str, int] = defaultdict(int)
    for (fn, source), n in run.metric_throttles.items():
        if (source == "cloudwatch") == cw.get(fn):
            out[fn] += n
    return dict(out)


def throughput_view(run: ReportAggregate, inv_series: dict[str, Any], lo: int, hi: int) -> dict[str, Any]:
    top = [f for f in inv_series["functions"] if f != series.OTHER]
    view: dict[str, Any] = {"t": inv_series["t"], "interval_ms": inv_series["interval_ms"]}
    thr, thr_sources = _metric(run, "throttles", lo, hi, top, "sum")
    if thr is not None:
        view["throttles"] = thr
        view["throttles_source"] = (f"{INDEX_METRICS} (source: {thr_sources}): invocations Lambda rejected, "
                                    "from CloudWatch's Throttles or callers' TooManyRequestsException lines")
    else:
        view["throttles"] = {}
        view["throttles_message"] = ("no metrics index in this run: Lambda's throttles leave no line in the "
                                     "function's own log; the metrics stage counts them from callers' logs "
                                     "and CloudWatch's Throttles metric")
    down, down_sources = _metric(run, "downstream_throttles", lo, hi, top, "sum")
    if down is not None:
        view["downstream_throttles"] = down
        view["downstream_source"] = f"{INDEX_METRICS} (source: {down_sources})"
    else:
        view["downstream_throttles"] = inv_series["downstream_throttles"]
        view["downstream_source"] = f"{INDEX_INVOCATIONS}: invocations that logged a throttling error"
    conc, conc_sources = _metric(run, "max_concurrency", lo, hi, top, "max")
    if conc is not None:
        view["concurrency"] = conc
        view["concurrency_source"] = f"{INDEX_METRICS} (source: {conc_sources})"
    else:
        view["concurrency"] = inv_series["concurrency"]
        view["concurrency_source"] = f"{INDEX_INVOCATIONS}: overlapping invocations"
    return view


def iterator_age_view(run: ReportAggregate, lo: int, hi: int) -> dict[str, Any]:
    if not any(metric == "iterator_age_max_ms" for metric, _ in run.metric_sources):
        why = ("no metrics index in this run" if run.counts.get(INDEX_METRICS) is None else
               "no iterator age in the metrics of this run")
        return {"message": f"{why}: iterator age comes from a stream source (Kinesis) or the CloudWatch "
                           "IteratorAge metric; file inputs have none"}
    interval, t = series.time_axis(lo, hi)
    return {"t": t, "interval_ms": interval, "source": INDEX_METRICS,
            "series": series.metric_series(run, "iterator_age_max_ms", lo, hi, [], "max")}


def alarms_view(run: ReportAggregate, hi: int) -> dict[str, Any]:
    if not run.alarms:
        why = ("no alarms index in this run" if run.counts.get(INDEX_ALARMS) is None else "no alarms in this run")
        return {"message": why, "transitions": [], "lanes": []}
    rows = alarm_view.transitions(run.alarms)
    return {"source": INDEX_ALARMS, "transitions": rows, "lanes": alarm_view.lanes(rows, hi)}


def traces_view(run: ReportAggregate) -> dict[str, Any]:
    if run.traces.spans:
        return {"source": INDEX_TRACES, "traces": traces.waterfalls(run.traces.slowest_traces())}
    why = "no traces indexed" + ("" if run.counts.get(INDEX_TRACES) is not None else " (no traces index in this run)")
    found = traces.waterfalls(run.traces.invocation_waterfalls())
    if not found:
        return {"message": f"{why}, and no invocation carried a trace id", "traces": []}
    return {"message": f"{why}: waterfalls built from invocations that share an X-Ray trace id",
            "source": INDEX_INVOCATIONS, "traces": found}


def as_aggregate(run: ReportAggregate | RunDocs) -> ReportAggregate:
    """Documents already in memory (a test, a small run) as the aggregate the views read."""
    if isinstance(run, ReportAggregate):
        return run
    agg = ReportAggregate.of([*run.invocations, *run.metrics, *run.alarms])
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in run.spans:
        by_trace[d["trace.id"]].append(d)
    for spans in by_trace.values():
        agg.traces.add_trace(spans)
    if not run.spans:
        for d in run.invocations:
            if d.get("trace.id"):
                agg.traces.keep_invocation_rows(d["trace.id"], traces.invocation_rows(d))
    agg.out_dir, agg.counts = run.out_dir, dict(run.counts)
    return agg


def build_report(run: ReportAggregate | RunDocs, title: str = "coldtrace report") -> dict[str, Any]:
    run = as_aggregate(run)
    lo, hi = _time_range(run)
    cold = coldstarts.analyze(run)
    cold_by_fn = {r["function"]: r for r in cold["functions"]}
    functions = function_rows(run, cold_by_fn,
                              function_throttles(run) if run.counts.get(INDEX_METRICS) is not None else None)
    top = series.top_functions({r["function"]: r["invocations"] for r in functions})
    inv_series = series.invocation_series(run, lo, hi, top)
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
