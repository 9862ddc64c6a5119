"""Index templates cover every field the model's documents can carry, with a fitting type.

Records are built fully populated (every optional field set), so a field added to a
``to_doc()`` without its mapping fails here, loudly, before Kibana ever sees it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from datetime import datetime
from pathlib import Path

import pytest

from pipeline.model import (
    INDEX_ALARMS,
    INDEX_DEADLETTER,
    INDEX_INVOCATIONS,
    INDEX_LOGS,
    INDEX_METRICS,
    INDEX_TRACES,
    METRIC_NAMES,
    Alarm,
    DeadLetter,
    Invocation,
    LogEvent,
    MetricPoint,
    ParsedLine,
    Span,
)
from pipeline.sinks.es_setup import load_policies, load_templates, with_retention, without_data_stream, without_lifecycle

ROOT = Path(__file__).resolve().parents[2]
T0 = 1714557600000


def _load_builder(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "dashboards" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flat_mapping(properties: dict, prefix: str = "") -> dict[str, dict]:
    """Nested mapping properties → {dotted name: leaf mapping}."""
    out = {}
    for name, m in properties.items():
        if "properties" in m:
            out.update(flat_mapping(m["properties"], f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = m
    return out


def mapped(index: str) -> dict[str, dict]:
    return flat_mapping(load_templates()[index]["template"]["mappings"]["properties"])


def _set_all(record, **overrides):
    """Fail if a field of the record was left None: the point is a fully populated record."""
    for key, value in overrides.items():
        setattr(record, key, value)
    empty = [f.name for f in dataclasses.fields(record) if getattr(record, f.name) is None]
    assert not empty, f"{type(record).__name__} fields left None: {empty}"
    return record


def full_log_event() -> LogEvent:
    # ParsedLine.platform and .fields never reach the document; every other reading does.
    parsed = ParsedLine(kind="log", level="ERROR", request_id="r-1", text="boom", error_type="KeyError",
                        error_message="'amount'", xray_trace_id="1-6738a2f0-5b1c2d3e4f5a6b7c8d9e0f1a",
                        correlation_id="c-1", parent_request_id="r-0", cold_start=True, time_ms=T0,
                        signals=("error", "oom"))
    return _set_all(LogEvent(id="3498", timestamp=T0, message="boom\n", log_group="/aws/lambda/orders",
                             log_stream="2024/05/01/[$LATEST]abc", account="123456789012", region="eu-west-1",
                             function_name="orders", function_version="$LATEST", instance_id="abc",
                             arrival_ms=T0 + 500, parsed=parsed))


def full_invocation() -> Invocation:
    return _set_all(Invocation(
        function_name="orders", request_id="r-1", log_group="/aws/lambda/orders", log_stream="s",
        function_version="$LATEST", instance_id="abc", account="123456789012", region="eu-west-1",
        start_ms=T0, end_ms=T0 + 100, duration_ms=100.5, billed_duration_ms=101.0, memory_size_mb=128,
        max_memory_used_mb=70, init_duration_ms=236.31, restore_duration_ms=571.67, billed_restore_duration_ms=292.0,
        init_start_ms=T0 - 300, runtime_version="python:3.12.v38", cold_start_kind="on-demand", outcome="error",
        error_type="KeyError", error_message="'amount'", xray_trace_id="1-6738a2f0-5b1c2d3e4f5a6b7c8d9e0f1a",
        correlation_ids=["c-1", "c-2"], parent_request_id="r-0", log_count=3, log_bytes=120,
        estimated_cost_usd=2.1e-7, signals=["error"], anchor_event_id="3714557600000"))


def full_metric_point() -> MetricPoint:
    values = {name: (1.5 if METRIC_TYPES[name] == "double" else 3) for name in METRIC_NAMES}
    return _set_all(MetricPoint(function_name="orders", window_start_ms=T0, window_end_ms=T0 + 60000,
                                function_version="$LATEST", source="logs", account="123456789012",
                                region="eu-west-1", values=values))


def full_alarm() -> Alarm:
    return _set_all(Alarm(rule="error_rate", function_name="orders", state="ALARM", previous_state="OK",
                          time_ms=T0, value=0.2, threshold=0.05, reason="error rate 20% > 5%", severity="critical",
                          window_start_ms=T0 - 60000, window_end_ms=T0))


# The attributes the OpenTelemetry FaaS conventions put on a Lambda span (see Span's docstring).
SPAN_ATTRIBUTES = {"faas.invocation_id": "r-1", "faas.coldstart": True, "faas.name": "orders",
                   "faas.version": "$LATEST", "faas.instance": "abc", "faas.max_memory": 134217728,
                   "cloud.provider": "aws", "cloud.region": "eu-west-1", "cloud.account.id": "123456789012",
                   "cloud.platform": "aws_lambda", "aws.lambda.cold_start_kind": "on-demand",
                   "aws.lambda.outcome": "success", "aws.xray.trace_id": "1-6738a2f0-5b1c2d3e4f5a6b7c8d9e0f1a",
                   "labels.correlation_id": "c-1", "error.type": "KeyError"}


def full_span() -> Span:
    return _set_all(Span(trace_id="6738a2f05b1c2d3e4f5a6b7c8d9e0f1a", span_id="3a4b5c6d7e8f9a0b", name="orders",
                         start_ms=T0, end_ms=T0 + 100, parent_span_id="1a2b3c4d5e6f7a8b", kind="SERVER",
                         status="error", function_name="orders", request_id="r-1", trace_key="xray:1-6738",
                         attributes=dict(SPAN_ATTRIBUTES)))


def stitched_spans() -> list[Span]:
    """The spans the trace stitcher makes of a cold caller and a failing consumer behind a queue:
    root facts, init span, CONSUMER trigger and error attributes all present."""
    stitch = pytest.importorskip("pipeline.stitch.spans")
    caller = full_invocation()
    caller.outcome, caller.parent_request_id = "success", None
    callee = full_invocation()
    callee.function_name, callee.request_id, callee.log_group = "payments", "r-2", "/aws/lambda/payments"
    callee.start_ms, callee.end_ms, callee.parent_request_id = T0 + 500, T0 + 700, "r-1"
    callee.xray_trace_id = "1-6738a2f1-000000000000000000000001"  # a new X-Ray trace: reached through a queue
    spans = stitch.trace_spans([caller, callee])
    assert any(s.kind == "CONSUMER" for s in spans) and any(s.kind == "INTERNAL" for s in spans)
    return spans


def full_dead_letter() -> DeadLetter:
    return _set_all(DeadLetter(raw="{not json", stage="read", error="bad payload", source="f.ndjson:3", time_ms=T0))


METRIC_TYPES = _load_builder("build_templates").METRIC_TYPES

CASES = [(INDEX_LOGS, full_log_event), (INDEX_INVOCATIONS, full_invocation), (INDEX_METRICS, full_metric_point),
         (INDEX_ALARMS, full_alarm), (INDEX_TRACES, full_span), (INDEX_DEADLETTER, full_dead_letter)]


def _fits(value, mapping: dict) -> bool:
    kind = mapping["type"]
    if isinstance(value, list):
        return all(_fits(v, mapping) for v in value)
    if isinstance(value, bool):
        return kind == "boolean"
    if isinstance(value, int):
        return kind in ("long", "double", "date")
    if isinstance(value, float):
        return kind == "double"
    if isinstance(value, str):
        if kind == "date":
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            return True
        return kind in ("keyword", "match_only_text")
    return False


@pytest.mark.parametrize("index,make", CASES, ids=[c[0] for c in CASES])
def test_every_field_of_a_full_document_is_mapped_with_a_fitting_type(index, make):
    doc = make().to_doc()
    fields = mapped(index)
    missing = sorted(set(doc) - set(fields))
    assert not missing, f"{index}: fields without a mapping: {missing}"
    wrong = {k: (v, fields[k]["type"]) for k, v in doc.items() if not _fits(v, fields[k])}
    assert not wrong, f"{index}: values that do not fit their mapping: {wrong}"


def test_every_field_of_a_stitched_trace_is_mapped():
    fields = mapped(INDEX_TRACES)
    for span in stitched_spans():
        doc = span.to_doc()
        missing = sorted(set(doc) - set(fields))
        assert not missing, f"span {span.name} ({span.kind}): fields without a mapping: {missing}"
        wrong = {k: (v, fields[k]["type"]) for k, v in doc.items() if not _fits(v, fields[k])}
        assert not wrong, wrong


def test_metric_types_cover_exactly_the_model_metric_names():
    assert set(METRIC_TYPES) == set(METRIC_NAMES)


def test_ids_and_names_are_keywords_and_text_is_not_aggregated():
    inv, logs = mapped(INDEX_INVOCATIONS), mapped(INDEX_LOGS)
    for name in ("faas.name", "faas.execution", "trace.id", "aws.lambda.outcome", "cloud.region"):
        assert inv[name]["type"] == "keyword", name
    assert logs["message"]["type"] == "match_only_text"
    assert inv["faas.coldstart"]["type"] == "boolean"
    assert inv["aws.lambda.duration_ms"]["type"] == "double"
    assert inv["aws.lambda.log_count"]["type"] == "long"
    assert mapped(INDEX_DEADLETTER)["event.original"] == {"type": "keyword", "index": False, "doc_values": False}


def test_committed_json_files_are_what_the_builders_write():
    for name in ("build_templates", "build_kibana"):
        builder = _load_builder(name)
        base = ROOT / "dashboards" / ("kibana" if name == "build_kibana" else "")
        for rel, text in builder.outputs().items():
            assert (base / rel).read_text() == text, f"dashboards/{rel} is stale: run python dashboards/{name}.py"


def test_templates_are_composable_time_series_with_existing_policies():
    templates, policies = load_templates(), load_policies()
    assert set(templates) == {INDEX_LOGS, INDEX_INVOCATIONS, INDEX_TRACES, INDEX_METRICS, INDEX_ALARMS,
                              INDEX_DEADLETTER}
    patterns = [p for t in templates.values() for p in t["index_patterns"]]
    assert len(patterns) == len(set(patterns))
    for index, tpl in templates.items():
        assert any(index.startswith(p.rstrip("*")) for p in tpl["index_patterns"])
        policy = tpl["template"]["settings"].get("index.lifecycle.name")
        if index in (INDEX_DEADLETTER, INDEX_TRACES, INDEX_METRICS):  # kept until someone has looked; re-emitted spans, corrected points
            assert "data_stream" not in tpl and policy is None
        else:
            assert "data_stream" in tpl and policy in policies, index
    deletes = {name: p["policy"]["phases"]["delete"]["min_age"] for name, p in policies.items()}
    assert deletes == {"coldtrace-events": "30d", "coldtrace-metrics": "400d"}


def test_fallback_variants_drop_only_what_the_server_lacks():
    tpl = load_templates()[INDEX_LOGS]
    plain = without_data_stream(without_lifecycle(tpl))
    assert "data_stream" not in plain and "index.lifecycle.name" not in plain["template"]["settings"]
    assert plain["template"]["mappings"] == tpl["template"]["mappings"]
    assert "data_stream" in tpl  # the original is untouched
    policy = load_policies()["coldtrace-events"]
    assert with_retention(policy, "14d")["policy"]["phases"]["delete"]["min_age"] == "14d"
    assert policy["policy"]["phases"]["delete"]["min_age"] == "30d"
    with pytest.raises(ValueError):
        with_retention(policy, "two weeks")


def test_templates_parse_as_json_files():
    for path in (ROOT / "dashboards" / "index-templates").glob("*.json"):
        assert json.loads(path.read_text())["template"]["mappings"]["dynamic"] is True
