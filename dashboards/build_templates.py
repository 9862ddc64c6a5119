"""Writes dashboards/index-templates/*.json and dashboards/ilm/*.json from the tables below.

The tables are the readable source: one line per field of each index, in the flat dotted
form the documents use (``pipeline/model/`` ``to_doc()``); the JSON files are what
Elasticsearch reads (``coldtrace es-setup``). A unit test checks the committed files equal
this script's output and that every field a fully populated record emits is mapped.

    python dashboards/build_templates.py        # rewrite the JSON files

Types are chosen for how Kibana aggregates: ids and names are ``keyword`` (terms, filters),
durations and ratios ``double`` (percentiles, averages), counts ``long``, flags ``boolean``,
times ``date``; free text is ``match_only_text`` (searchable, not aggregated, cheap to store).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

KW, TEXT, DATE, DOUBLE, LONG, BOOL = "keyword", "match_only_text", "date", "double", "long", "boolean"

# The metric names of pipeline.model.METRIC_NAMES and their types.
METRIC_TYPES: dict[str, str] = {
    "invocations": LONG, "errors": LONG, "error_rate": DOUBLE, "timeouts": LONG, "out_of_memory": LONG,
    "crashes": LONG, "throttles": LONG, "cold_starts": LONG, "cold_start_rate": DOUBLE,
    "duration_p50_ms": DOUBLE, "duration_p95_ms": DOUBLE, "duration_p99_ms": DOUBLE, "duration_max_ms": DOUBLE,
    "init_p50_ms": DOUBLE, "init_p95_ms": DOUBLE, "init_p99_ms": DOUBLE, "max_memory_utilization": DOUBLE,
    "max_concurrency": LONG, "iterator_age_max_ms": DOUBLE, "estimated_cost_usd": DOUBLE, "dead_letters": LONG,
    "downstream_throttles": LONG, "completed_duration_p99_ms": DOUBLE, "timeout_limit_ms": DOUBLE,
    "dead_letter_errors": LONG, "async_event_age_max_ms": DOUBLE, "delivery_delay_ms": DOUBLE,
}

COMMON = {"@timestamp": DATE, "event.dataset": KW}
CLOUD = {"cloud.provider": KW, "cloud.region": KW, "cloud.account.id": KW}
FAAS = {"faas.name": KW, "faas.version": KW, "faas.instance": KW, "faas.execution": KW}

FIELDS: dict[str, dict[str, str]] = {
    "coldtrace-logs": {
        **COMMON, **CLOUD, **FAAS,
        "event.id": KW, "event.ingested": DATE, "message": TEXT, "log.level": KW, "log.group": KW,
        "log.stream": KW, "error.type": KW, "error.message": TEXT, "aws.lambda.log_kind": KW,
        "aws.lambda.signals": KW, "aws.xray.trace_id": KW, "labels.correlation_id": KW,
    },
    "coldtrace-invocations": {
        **COMMON, **CLOUD, **FAAS,
        "event.outcome": KW, "event.end": DATE, "faas.coldstart": BOOL, "log.group": KW, "log.stream": KW,
        "aws.lambda.cold_start_kind": KW, "aws.lambda.outcome": KW, "aws.lambda.runtime_version": KW,
        "aws.lambda.duration_ms": DOUBLE, "aws.lambda.billed_duration_ms": DOUBLE,
        "aws.lambda.memory_size_mb": LONG, "aws.lambda.max_memory_used_mb": LONG,
        "aws.lambda.memory_utilization": DOUBLE, "aws.lambda.init_duration_ms": DOUBLE,
        "aws.lambda.restore_duration_ms": DOUBLE, "aws.lambda.billed_restore_duration_ms": DOUBLE,
        "aws.lambda.estimated_cost_usd": DOUBLE, "aws.lambda.log_count": LONG, "aws.lambda.log_bytes": LONG,
        "aws.lambda.signals": KW, "aws.lambda.correlation_ids": KW, "aws.lambda.parent_request_id": KW,
        "error.type": KW, "error.message": TEXT, "trace.id": KW, "aws.xray.trace_id": KW,
        "labels.correlation_id": KW,
    },
    "coldtrace-traces": {
        **COMMON, **CLOUD, **FAAS,
        "event.start": DATE, "event.end": DATE, "event.duration": LONG, "event.outcome": KW,
        "trace.id": KW, "span.id": KW, "transaction.id": KW, "parent.id": KW, "span.name": KW,
        "span.kind": KW, "span.status": KW, "span.duration_ms": DOUBLE, "coldtrace.trace.key": KW,
        # OpenTelemetry FaaS semantic-convention attributes copied onto the span document
        "faas.invocation_id": KW, "faas.coldstart": BOOL, "faas.max_memory": LONG, "faas.trigger": KW,
        "cloud.platform": KW, "cloud.resource_id": KW, "aws.lambda.cold_start_kind": KW, "aws.lambda.outcome": KW,
        "aws.lambda.duration_ms": DOUBLE, "aws.lambda.init_duration_ms": DOUBLE,
        "aws.lambda.restore_duration_ms": DOUBLE, "aws.xray.trace_id": KW, "labels.correlation_id": KW,
        "error.type": KW,
        # trace-level facts on the root span (pipeline/stitch/facts.py)
        "coldtrace.trace.invocations": LONG, "coldtrace.trace.functions": LONG,
        "coldtrace.trace.duration_ms": DOUBLE, "coldtrace.trace.cold_starts": LONG, "coldtrace.trace.errors": LONG,
        "coldtrace.trace.critical_path": KW, "coldtrace.trace.critical_path_cold_start": BOOL,
        "coldtrace.trace.weakest_link": KW,
    },
    "coldtrace-metrics": {
        **COMMON, **CLOUD, "faas.name": KW, "faas.version": KW,
        "event.start": DATE, "event.end": DATE, "metricset.period": LONG, "coldtrace.metrics.source": KW,
        **{f"aws.lambda.metrics.{name}": t for name, t in METRIC_TYPES.items()},
    },
    "coldtrace-alarms": {
        **COMMON, "faas.name": KW, "event.kind": KW, "event.start": DATE, "event.end": DATE,
        "rule.name": KW, "message": TEXT, "coldtrace.alarm.state": KW,
        "coldtrace.alarm.previous_state": KW, "coldtrace.alarm.severity": KW,
        "coldtrace.alarm.value": DOUBLE, "coldtrace.alarm.threshold": DOUBLE,
    },
    "coldtrace-deadletter": {
        **COMMON, "event.original": "raw", "error.message": TEXT, "coldtrace.stage": KW, "coldtrace.source": KW,
    },
}

DESCRIPTIONS = {
    "coldtrace-logs": "one document per Lambda log line",
    "coldtrace-invocations": "one document per invocation (function, request id)",
    "coldtrace-traces": "one document per span of a trace stitched from the logs",
    "coldtrace-metrics": "per function and event-time window figures",
    "coldtrace-alarms": "alarm state transitions",
    "coldtrace-deadletter": "input that could not be processed or indexed, with the reason",
}

# Data streams for the time series. Three plain indices: the metric points, which a late
# invocation corrects in place (the same ``_id``, bulk ``index``: docs/architecture.md), the dead letters (kept until a human
# has looked at them: no lifecycle deletes them), and the spans, because a streaming run
# re-emits a trace a late member joins with the bulk ``index`` operation (pipeline.model
# ``bulk_op``) and a data stream "only accepts index requests with op_type set to create"
# (Elasticsearch, Data streams); without rollover no ILM policy fits, so trace retention is the
# operator's (docs/elasticsearch.md).
POLICY_OF = {
    "coldtrace-logs": "coldtrace-events", "coldtrace-invocations": "coldtrace-events",
    "coldtrace-traces": None, "coldtrace-metrics": None,
    "coldtrace-alarms": "coldtrace-metrics", "coldtrace-deadletter": None,
}

POLICIES = {
    "coldtrace-events": {"retention": "30d", "rollover_age": "7d",
                         "description": "logs and invocations: 30 days"},
    "coldtrace-metrics": {"retention": "400d", "rollover_age": "30d",
                          "description": "metrics and alarms: 400 days (a year and a month, for comparisons)"},
}

DYNAMIC_TEMPLATES = [
    # Fields a later version adds before the template knows them land as keyword (aggregatable),
    # not as text + keyword pairs.
    {"strings_as_keyword": {"match_mapping_type": "string", "mapping": {"type": "keyword", "ignore_above": 1024}}},
]

TEMPLATE_VERSION = 1


def field_mapping(kind: str) -> dict:
    if kind == KW:
        return {"type": "keyword", "ignore_above": 1024}
    if kind == "raw":  # kept in _source only, as ECS does for event.original
        return {"type": "keyword", "index": False, "doc_values": False}
    return {"type": kind}


def nest(fields: dict[str, str]) -> dict:
    """Flat dotted names → nested ``properties``; raises on a name that is both leaf and object."""
    root: dict = {}
    for name in sorted(fields):
        node = root
        parts = name.split(".") if name != "@timestamp" else [name]
        for part in parts[:-1]:
            child = node.setdefault(part, {"properties": {}})
            if "properties" not in child:
                raise ValueError(f"{name}: {part} is a leaf field elsewhere")
            node = child["properties"]
        if parts[-1] in node:
            raise ValueError(f"{name}: mapped twice or is an object elsewhere")
        node[parts[-1]] = field_mapping(fields[name])
    return root


def index_template(index: str) -> dict:
    policy = POLICY_OF[index]
    settings: dict = {"index.number_of_shards": 1}
    if policy:
        settings["index.lifecycle.name"] = policy
    tpl: dict = {
        "index_patterns": [f"{index}*"],
        "priority": 200,
        "version": TEMPLATE_VERSION,
        "_meta": {"managed_by": "coldtrace", "description": DESCRIPTIONS[index]},
        "template": {
            "settings": settings,
            "mappings": {"dynamic": True, "dynamic_templates": DYNAMIC_TEMPLATES,
                         "properties": nest(FIELDS[index])},
        },
    }
    if policy:
        tpl["data_stream"] = {}
    return tpl


def ilm_policy(name: str) -> dict:
    p = POLICIES[name]
    return {"policy": {
        "_meta": {"managed_by": "coldtrace", "description": p["description"]},
        "phases": {
            "hot": {"min_age": "0ms", "actions": {"rollover": {
                "max_age": p["rollover_age"], "max_primary_shard_size": "50gb"}}},
            "delete": {"min_age": p["retention"], "actions": {"delete": {}}},
        },
    }}


def render(obj: dict) -> str:
    return json.dumps(obj, indent=2, sort_keys=False) + "\n"


def outputs() -> dict[str, str]:
    """Relative path → file content."""
    out = {f"index-templates/{index}.json": render(index_template(index)) for index in FIELDS}
    out.update({f"ilm/{name}.json": render(ilm_policy(name)) for name in POLICIES})
    return out


def main() -> int:
    for rel, text in outputs().items():
        path = HERE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
