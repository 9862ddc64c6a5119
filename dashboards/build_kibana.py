"""Writes dashboards/kibana/*.ndjson: coldtrace's Kibana 8.x saved objects.

The dashboards are described below in a few lines each; this script expands them into the
saved-object format Kibana's import API takes (``index-pattern`` data views with fixed ids,
``lens`` visualizations referenced by ``dashboard`` objects, ``search`` objects for Discover).
A unit test checks the committed files equal this script's output, that every reference
resolves and that every field a panel uses is mapped, aggregatable, in the index templates.

    python dashboards/build_kibana.py        # rewrite the NDJSON files

KQL here stays in a small subset (``field : value``, ``and``, ``or``, ``not``, parentheses) so
tests can run the same filters against Elasticsearch as ``query_string`` queries.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kibana_saved_objects import count, dashboard, data_view, date_histogram, last_value, metric, search, table, terms, tile, xy  # noqa: E402

HERE = Path(__file__).resolve().parent / "kibana"

INDICES = ("coldtrace-logs", "coldtrace-invocations", "coldtrace-traces", "coldtrace-metrics",
           "coldtrace-alarms", "coldtrace-deadletter")
PIPELINE_FUNCTION = "coldtrace-pipeline"  # MetricPoint.function_name of coldtrace's own health

INV, MET, TRC, ALM, LOG, DLQ = ("coldtrace-invocations", "coldtrace-metrics", "coldtrace-traces",
                               "coldtrace-alarms", "coldtrace-logs", "coldtrace-deadletter")
FAILED = 'event.outcome : "failure"'
COST, DUR, INIT = "aws.lambda.estimated_cost_usd", "aws.lambda.duration_ms", "aws.lambda.init_duration_ms"
FN_CONTROL = [(INV, "faas.name", "Function")]


def fleet_overview() -> list[dict]:
    p = [
        tile("fleet-invocations", "Invocations", INV, count("Invocations")),
        tile("fleet-errors", "Failed invocations", INV, count("Failed", FAILED)),
        tile("fleet-cold-starts", "Cold starts", INV, count("Cold starts", "faas.coldstart : true")),
        tile("fleet-cost", "Estimated cost (USD)", INV, metric("sum", COST, "Cost (USD)")),
        xy("fleet-invocations-by-outcome", "Invocations over time by outcome", INV, "bar_stacked",
           date_histogram(), {"y": count("Invocations")}, terms("aws.lambda.outcome", 6, "y")),
        xy("fleet-errors-by-function", "Failed invocations over time by function", INV, "line",
           date_histogram(), {"y": count("Failed")}, terms("faas.name", 10, "y"), query=FAILED),
        xy("fleet-throttles", "Throttles over time by function", MET, "bar_stacked",
           date_histogram(), {"y": metric("sum", "aws.lambda.metrics.throttles", "Throttles")},
           terms("faas.name", 10, "y")),
        xy("fleet-cost-over-time", "Estimated cost over time by function", INV, "area_stacked",
           date_histogram(), {"y": metric("sum", COST, "Cost (USD)")}, terms("faas.name", 10, "y")),
        table("fleet-functions", "Functions", INV, {
            "fn": terms("faas.name", 50, "n"), "n": count("Invocations"), "err": count("Failed", FAILED),
            "cold": count("Cold starts", "faas.coldstart : true"),
            "p95": metric("percentile", DUR, "Duration p95 (ms)", percentile=95),
            "cost": metric("sum", COST, "Cost (USD)")}),
    ]
    sizes = [(12, 6)] * 4 + [(24, 12)] * 4 + [(48, 14)]
    return p + [dashboard("fleet-overview", "coldtrace: fleet overview",
                          "Invocations, errors, throttles and cost of every function",
                          [(o, w, h) for o, (w, h) in zip(p, sizes)], FN_CONTROL)]


def cold_starts() -> list[dict]:
    p = [
        xy("cold-share-by-function", "Cold start share by function", INV, "bar_horizontal_percentage_stacked",
           terms("faas.name", 20, "y"), {"y": count("Invocations")}, terms("faas.coldstart", 2, "y", "boolean")),
        xy("cold-starts-by-kind", "Cold starts over time by kind", INV, "bar_stacked",
           date_histogram(), {"y": count("Cold starts")}, terms("aws.lambda.cold_start_kind", 4, "y"),
           query='not aws.lambda.cold_start_kind : "none"'),
        table("cold-init-percentiles", "Init duration percentiles by runtime and memory size", INV, {
            "rt": terms("aws.lambda.runtime_version", 20, "n"),
            "mem": terms("aws.lambda.memory_size_mb", 10, "n", "number"),
            "n": count("Cold starts"),
            "p50": metric("percentile", INIT, "Init p50 (ms)", percentile=50),
            "p95": metric("percentile", INIT, "Init p95 (ms)", percentile=95),
            "p99": metric("percentile", INIT, "Init p99 (ms)", percentile=99)},
            query="faas.coldstart : true"),
        xy("cold-init-p95-by-function", "Init duration p95 by function", INV, "bar",
           terms("faas.name", 20, "y"), {"y": metric("percentile", INIT, "Init p95 (ms)", percentile=95)},
           query="faas.coldstart : true"),
        table("cold-critical-path", "Traces with a cold start on the critical path, by weakest link", TRC, {
            "fn": terms("coldtrace.trace.weakest_link", 20, "n"),
            "n": count("Traces"),
            "avg": metric("average", "coldtrace.trace.duration_ms", "Mean trace duration (ms)"),
            "p95": metric("percentile", "coldtrace.trace.duration_ms", "Trace duration p95 (ms)", percentile=95)},
            query="coldtrace.trace.critical_path_cold_start : true",
            description="Root spans of traces whose critical path waited for a cold start; the weakest link is "
                        "the function whose init cost the most on that path"),
        table("cold-starts-on-traces", "Traces touched by a cold start, by function", TRC, {
            "fn": terms("faas.name", 20, "traces"),
            "traces": metric("unique_count", "trace.id", "Traces"),
            "p95": metric("percentile", "span.duration_ms", "Span p95 (ms)", percentile=95)},
            query="faas.coldstart : true"),
    ]
    sizes = [(24, 14), (24, 14), (24, 14), (24, 14), (24, 12), (24, 12)]
    return p + [dashboard("cold-starts", "coldtrace: cold starts",
                          "Where cold starts happen, what they cost, and which traces they slow down",
                          [(o, w, h) for o, (w, h) in zip(p, sizes)], FN_CONTROL)]


def performance() -> list[dict]:
    p = [
        xy("perf-duration-percentiles", "Duration percentiles", INV, "line", date_histogram(), {
            "p50": metric("percentile", DUR, "p50 (ms)", percentile=50),
            "p95": metric("percentile", DUR, "p95 (ms)", percentile=95),
            "p99": metric("percentile", DUR, "p99 (ms)", percentile=99)}),
        xy("perf-duration-by-function", "Duration p95 and p99 by function", INV, "bar",
           terms("faas.name", 20, "p95"), {
               "p95": metric("percentile", DUR, "p95 (ms)", percentile=95),
               "p99": metric("percentile", DUR, "p99 (ms)", percentile=99)}),
        xy("perf-memory-by-function", "Memory utilisation by function", INV, "bar",
           terms("faas.name", 20, "max"), {
               "max": metric("max", "aws.lambda.memory_utilization", "Max utilisation"),
               "avg": metric("average", "aws.lambda.memory_utilization", "Mean utilisation")}),
        xy("perf-timeouts-oom", "Timeouts and out-of-memory kills over time", INV, "bar_stacked",
           date_histogram(), {"y": count("Invocations")}, terms("aws.lambda.outcome", 3, "y"),
           query="aws.lambda.outcome : (timeout or out_of_memory)"),
        table("perf-billing", "Duration, billed duration and cost by function", INV, {
            "fn": terms("faas.name", 50, "cost"),
            "avg": metric("average", DUR, "Mean duration (ms)"),
            "billed": metric("average", "aws.lambda.billed_duration_ms", "Mean billed (ms)"),
            "mem": metric("max", "aws.lambda.max_memory_used_mb", "Max memory used (MB)"),
            "size": metric("max", "aws.lambda.memory_size_mb", "Memory size (MB)"),
            "cost": metric("sum", COST, "Cost (USD)")}),
    ]
    sizes = [(48, 12), (24, 14), (24, 14), (24, 14), (24, 14)]
    return p + [dashboard("performance", "coldtrace: performance",
                          "Duration percentiles, memory utilisation, timeouts and out-of-memory kills",
                          [(o, w, h) for o, (w, h) in zip(p, sizes)], FN_CONTROL)]


def streams() -> list[dict]:
    age = "aws.lambda.metrics.iterator_age_max_ms"
    p = [
        xy("streams-iterator-age", "Iterator age of stream-triggered functions (max)", MET, "line",
           date_histogram(), {"y": metric("max", age, "Iterator age (ms)")}, terms("faas.name", 10, "y"),
           query=f'not faas.name : "{PIPELINE_FUNCTION}"'),
        xy("streams-pipeline-age", "coldtrace pipeline iterator age (max)", MET, "line",
           date_histogram(), {"y": metric("max", age, "Iterator age (ms)")},
           query=f'faas.name : "{PIPELINE_FUNCTION}"'),
        xy("streams-pipeline-dead-letters", "coldtrace pipeline dead letters", MET, "bar",
           date_histogram(), {"y": metric("sum", "aws.lambda.metrics.dead_letters", "Dead letters")},
           query=f'faas.name : "{PIPELINE_FUNCTION}"'),
        xy("streams-dead-letters-by-stage", "Dead letters by stage", DLQ, "bar_stacked",
           date_histogram(), {"y": count("Dead letters")}, terms("coldtrace.stage", 10, "y")),
        table("streams-age-by-function", "Iterator age by function", MET, {
            "fn": terms("faas.name", 50, "max"),
            "max": metric("max", age, "Max iterator age (ms)"),
            "last": last_value(age, "Latest iterator age (ms)", "number")},
            query=f"{age} >= 0"),
    ]
    sizes = [(24, 14), (24, 14), (24, 12), (24, 12), (48, 12)]
    return p + [dashboard("streams", "coldtrace: streams",
                          "Iterator age of the functions reading streams, and of coldtrace's own pipeline",
                          [(o, w, h) for o, (w, h) in zip(p, sizes)])]


def alarms() -> list[dict]:
    p = [
        xy("alarms-timeline", "Alarm transitions over time", ALM, "bar_stacked",
           date_histogram(), {"y": count("Transitions")}, terms("coldtrace.alarm.state", 3, "y")),
        table("alarms-current", "Current state by rule and function", ALM, {
            "rule": terms("rule.name", 50, "n"), "fn": terms("faas.name", 50, "n"), "n": count("Transitions"),
            "state": last_value("coldtrace.alarm.state", "State"),
            "severity": last_value("coldtrace.alarm.severity", "Severity"),
            "value": last_value("coldtrace.alarm.value", "Last value", "number")}),
        xy("alarms-by-rule", "Alarms raised by rule", ALM, "bar_horizontal",
           terms("rule.name", 20, "y"), {"y": count("Raised")}, query='coldtrace.alarm.state : "ALARM"'),
        search("alarms", "coldtrace alarms", ALM,
               ["rule.name", "faas.name", "coldtrace.alarm.state", "coldtrace.alarm.value", "message"]),
    ]
    sizes = [(24, 12), (24, 12), (24, 12), (24, 12)]
    return p + [dashboard("alarms", "coldtrace: alarms", "Alarm timeline and the current state of every rule",
                          [(o, w, h) for o, (w, h) in zip(p, sizes)])]


def traces() -> list[dict]:
    p = [
        table("traces-slowest", "Slowest traces", TRC, {
            "trace": terms("trace.id", 20, "dur"),
            "dur": metric("max", "coldtrace.trace.duration_ms", "Duration (ms)"),
            "fns": metric("max", "coldtrace.trace.functions", "Functions"),
            "inv": metric("max", "coldtrace.trace.invocations", "Invocations"),
            "cold": metric("max", "coldtrace.trace.cold_starts", "Cold starts"),
            "err": metric("max", "coldtrace.trace.errors", "Errors"),
            "weak": last_value("coldtrace.trace.weakest_link", "Weakest link")},
            query="coldtrace.trace.duration_ms >= 0",
            description="One row per trace, from its root span's trace-level facts"),
        table("traces-per-function", "Spans per function", TRC, {
            "fn": terms("faas.name", 50, "n"), "n": count("Spans"),
            "p50": metric("percentile", "span.duration_ms", "p50 (ms)", percentile=50),
            "p95": metric("percentile", "span.duration_ms", "p95 (ms)", percentile=95),
            "err": count("Errors", 'span.status : "error"')}),
        xy("traces-spans-by-status", "Spans over time by status", TRC, "bar_stacked",
           date_histogram(), {"y": count("Spans")}, terms("span.status", 3, "y")),
    ]
    sizes = [(24, 16), (24, 16), (48, 10)]
    return p + [dashboard("traces", "coldtrace: traces", "Traces stitched from the logs: slowest, and per function",
                          [(o, w, h) for o, (w, h) in zip(p, sizes)], [(TRC, "faas.name", "Function")])]


def logs() -> list[dict]:
    cols = ["faas.name", "log.level", "faas.execution", "labels.correlation_id", "message"]
    p = [
        xy("logs-by-level", "Log lines over time by level", LOG, "bar_stacked",
           date_histogram(), {"y": count("Lines")}, terms("log.level", 6, "y")),
        search("logs", "coldtrace logs", LOG, cols),
        search("error-logs", "coldtrace error logs", LOG, cols,
               query='log.level : "ERROR" or aws.lambda.log_kind : (timeout or runtime_error)'),
    ]
    sizes = [(48, 8), (48, 20), (48, 14)]
    controls = [(LOG, "faas.name", "Function"), (LOG, "faas.execution", "Request id"),
                (LOG, "labels.correlation_id", "Correlation id")]
    return p + [dashboard("logs", "coldtrace: logs",
                          "Log lines; pick a request id or a correlation id above to follow one request",
                          [(o, w, h) for o, (w, h) in zip(p, sizes)], controls)]


FILES = {
    "data-views": lambda: [data_view(i) for i in INDICES],
    "fleet-overview": fleet_overview, "cold-starts": cold_starts, "performance": performance,
    "streams": streams, "alarms": alarms, "traces": traces, "logs": logs,
}


def outputs() -> dict[str, str]:
    return {f"{name}.ndjson": "".join(json.dumps(o, sort_keys=True) + "\n" for o in make())
            for name, make in FILES.items()}


def main() -> int:
    HERE.mkdir(parents=True, exist_ok=True)
    for name, text in outputs().items():
        (HERE / name).write_text(text)
        print(f"wrote dashboards/kibana/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
