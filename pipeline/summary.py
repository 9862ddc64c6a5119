"""The run summary: per function invocations, cold starts, duration and init percentiles,
errors, timeouts, OOMs and cost — from the run's ``ReportAggregate`` (the one the report reads),
which sums exactly the documents that were indexed: the summary never disagrees with the files.
Duration percentiles come from a sketch (within 0.5 %, ``pipeline.sketch``); the rest is exact.
"""

from __future__ import annotations

from typing import Any, Iterable

from pipeline.local_index import count_docs, index_path
from pipeline.model import INDEX_ALARMS, INDEX_DEADLETTER, INDEX_INVOCATIONS, INDEX_LOGS, INDEX_METRICS, INDEX_TRACES
from pipeline.report.aggregates import ReportAggregate
from pipeline.report.fields import percentile, sketch_percentiles
from pipeline.report.function_figures import FunctionFigures
from pipeline.report.load import load_aggregate
from pipeline.report.trace_figures import TraceFigures


def function_summary(f: FunctionFigures) -> dict[str, Any]:
    """The summary's figures of one function (durations from the sketch, inits exact)."""
    out: dict[str, Any] = {"invocations": f.invocations, "cold_starts": f.cold_starts,
                           "provisioned_inits": f.provisioned}
    for outcome, key in _OUTCOME_KEY.items():
        out[key] = f.outcomes.get(outcome, 0)
    out["cost_usd"] = round(f.cost_usd, 6)
    out["cold_start_rate"] = round(f.cold_starts / f.invocations, 4) if f.invocations else 0.0
    dur = sketch_percentiles(f.durations)
    init = sorted(f.summary_inits)
    for q in (50, 95, 99):
        out[f"duration_p{q}_ms"] = dur[f"p{q}"]
        out[f"init_p{q}_ms"] = percentile(init, q)
    return out


_OUTCOME_KEY = {"error": "errors", "timeout": "timeouts", "out_of_memory": "out_of_memory", "crash": "crashes",
                "unfinished": "unfinished"}


def summarize_invocations(docs: Iterable[dict[str, Any]] | ReportAggregate) -> dict[str, dict[str, Any]]:
    """Per-function figures from invocation documents, or from a run's aggregate."""
    agg = docs if isinstance(docs, ReportAggregate) else ReportAggregate.of(docs)
    return {name: function_summary(agg.functions[name]) for name in sorted(agg.functions)}


def summarize_traces(docs: Iterable[dict[str, Any]] | TraceFigures) -> dict[str, Any]:
    """Trace-level facts: the root span of each trace carries them."""
    if isinstance(docs, TraceFigures):
        return docs.summary()
    figures = TraceFigures()
    for d in docs:
        figures.add_trace([d])
    return figures.summary()




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


def summarize_out(out_dir: str, loaded: ReportAggregate | None = None) -> dict[str, Any]:
    """The summary of a finished run, from its aggregate (``loaded``, the one the report reads
    too, or the one ``pipeline.report.load`` finds or folds from the index files)."""
    agg = loaded if loaded is not None else load_aggregate(out_dir)
    functions = summarize_invocations(agg)
    totals = {k: sum(f[k] for f in functions.values())
              for k in ("invocations", "cold_starts", "errors", "timeouts", "out_of_memory", "crashes",
                        "unfinished")}
    totals["cost_usd"] = round(sum(f["cost_usd"] for f in functions.values()), 6)
    return {"functions": functions, "totals": totals,
            "documents": {INDEX_LOGS: count_docs(index_path(out_dir, INDEX_LOGS)),
                          INDEX_INVOCATIONS: count_docs(index_path(out_dir, INDEX_INVOCATIONS)),
                          INDEX_DEADLETTER: count_docs(index_path(out_dir, INDEX_DEADLETTER)),
                          INDEX_TRACES: agg.traces.spans,
                          INDEX_METRICS: agg.metric_docs,   # a corrected point once
                          INDEX_ALARMS: count_docs(index_path(out_dir, INDEX_ALARMS))},
            "alarms": summarize_alarms(agg.alarms),
            "traces": summarize_traces(agg.traces)}
