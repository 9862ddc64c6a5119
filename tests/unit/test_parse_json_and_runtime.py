"""The JSON log format's platform records, runtime prefixes, and structured application logs."""

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.parse import parse_message

RID = "6b2a7c1e-3d4f-4a5b-8c6d-7e8f9a0b1c2d"


def j(obj) -> str:
    return orjson.dumps(obj).decode()


def test_platform_report_metrics_tracing_status():
    p = parse_message(j({"time": "2024-05-01T10:00:00.000Z", "type": "platform.report", "record": {
        "requestId": RID, "status": "success",
        "metrics": {"durationMs": 102.25, "billedDurationMs": 103, "memorySizeMB": 128.0,
                    "maxMemoryUsedMB": 70, "initDurationMs": 236.31},
        "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-6738a2f0-5b1c2d3e4f5a6b7c8d9e0f1a;Parent=53995c3f42cd8ad8;Sampled=1"}}}))
    r = p.platform
    assert p.kind == "report" and p.request_id == RID
    assert (r.duration_ms, r.billed_duration_ms, r.memory_size_mb, r.max_memory_used_mb, r.init_duration_ms) == (
        102.25, 103.0, 128, 70, 236.31)
    assert (r.xray_trace_id, r.segment_id, r.sampled, r.status) == (
        "1-6738a2f0-5b1c2d3e4f5a6b7c8d9e0f1a", "53995c3f42cd8ad8", True, "success")


def test_platform_init_restore_and_others():
    kinds = {
        "platform.initStart": ({"initializationType": "provisioned-concurrency", "phase": "init",
                                "runtimeVersion": "python:3.12.v38", "functionVersion": "$LATEST"}, "init_start"),
        "platform.initReport": ({"initializationType": "on-demand", "status": "success",
                                 "metrics": {"durationMs": 236.3}}, "init_report"),
        "platform.start": ({"requestId": RID, "version": "$LATEST"}, "start"),
        "platform.runtimeDone": ({"requestId": RID, "status": "error", "errorType": "KeyError",
                                  "metrics": {"durationMs": 101.9, "producedBytes": 120}}, "runtime_done"),
        "platform.restoreStart": ({"runtimeVersion": "java:21.v27"}, "restore_start"),
        "platform.restoreReport": ({"status": "success", "metrics": {"durationMs": 571.67}}, "restore_report"),
        "platform.extension": ({"name": "otel", "state": "Ready", "events": ["INVOKE"]}, "extension"),
        "platform.logsDropped": ({"reason": "buffer full", "droppedRecords": 12, "droppedBytes": 4096}, "logs_dropped"),
    }
    out = {t: parse_message(j({"time": "2024-05-01T10:00:00.000Z", "type": t, "record": rec}))
           for t, (rec, _) in kinds.items()}
    for t, (_, kind) in kinds.items():
        assert out[t].kind == kind, t
    assert out["platform.initStart"].platform.initialization_type == "provisioned-concurrency"
    assert out["platform.initReport"].platform.init_duration_ms == 236.3
    assert out["platform.restoreReport"].platform.restore_duration_ms == 571.67
    assert out["platform.runtimeDone"].platform.error_type == "KeyError"
    assert out["platform.logsDropped"].platform.dropped_records == 12
    assert out["platform.extension"].platform.extension_events == ("INVOKE",)


def test_managed_instances_report_with_only_duration():
    p = parse_message(j({"time": "t", "type": "platform.report",
                         "record": {"requestId": RID, "metrics": {"durationMs": 2.524}, "spans": []}}))
    assert p.kind == "report" and p.platform.duration_ms == 2.524 and p.platform.memory_size_mb is None


def test_wrong_types_in_platform_record_do_not_raise():
    p = parse_message(j({"type": "platform.report", "record": {"requestId": 5, "metrics": {"durationMs": "x",
                         "memorySizeMB": [1], "maxMemoryUsedMB": True}, "tracing": "nope"}}))
    assert p.kind == "report" and p.request_id is None
    assert p.platform.duration_ms is None and p.platform.memory_size_mb is None


def test_python_and_node_prefixes():
    py = parse_message(f"[WARNING]\t2024-05-01T10:00:00.123Z\t{RID}\tdisk almost full\n")
    assert (py.kind, py.level, py.request_id, py.text) == ("log", "WARN", RID, "disk almost full\n")
    node = parse_message(f"2024-05-01T10:00:00.123Z\t{RID}\tINFO\tuser message\n")
    assert (node.level, node.request_id, node.text) == ("INFO", RID, "user message\n")


def test_uncaught_errors_carry_type_and_message():
    py = parse_message("[ERROR] KeyError: 'amount'\nTraceback (most recent call last):\n  File \"/var/task/app.py\", line 12\n")
    assert (py.level, py.error_type, py.error_message, py.request_id) == ("ERROR", "KeyError", "'amount'", None)
    assert "error" in py.signals
    node = parse_message(f"2024-05-01T10:00:00.123Z\t{RID}\tERROR\tInvoke Error \t"
                         '{"errorType":"TypeError","errorMessage":"x is undefined","stack":["a"]}\n')
    assert (node.error_type, node.error_message, node.request_id) == ("TypeError", "x is undefined", RID)
    obj = parse_message(j({"errorMessage": "'amount'", "errorType": "KeyError", "requestId": RID, "stackTrace": []}))
    assert (obj.error_type, obj.request_id, obj.level) == ("KeyError", RID, "ERROR")


def test_powertools_logger_line():
    p = parse_message(j({"level": "INFO", "location": "handler:10", "message": "order placed",
                         "timestamp": "2024-05-01T10:00:00.123Z", "service": "orders", "cold_start": True,
                         "function_request_id": RID, "correlation_id": "corr-42",
                         "xray_trace_id": "1-6738a2f0-5b1c2d3e4f5a6b7c8d9e0f1a"}))
    assert (p.level, p.request_id, p.correlation_id, p.cold_start) == ("INFO", RID, "corr-42", True)
    assert p.xray_trace_id == "1-6738a2f0-5b1c2d3e4f5a6b7c8d9e0f1a" and p.text == "order placed"


def test_correlation_paths_are_configurable():
    line = j({"message": "m", "meta": {"trace": {"cid": "abc"}}})
    assert parse_message(line).correlation_id is None
    assert parse_message(line, ("meta.trace.cid",)).correlation_id == "abc"
    assert parse_message(j({"x-correlation-id": "h-1"})).correlation_id == "h-1"


def test_oom_and_throttle_signatures():
    assert "oom" in parse_message("FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory").signals
    assert "oom" in parse_message("Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space").signals
    for text in ("TooManyRequestsException: Rate Exceeded.", "ThrottlingException: slow down",
                 "ProvisionedThroughputExceededException", "got HTTP 429 from upstream"):
        assert "throttle" in parse_message(f"[ERROR]\t2024-05-01T10:00:00.123Z\t{RID}\t{text}\n").signals, text
    assert parse_message("all good, 429 items processed").signals == ()


def test_unicode_long_and_deeply_nested_lines():
    assert parse_message("[INFO]\t2024-05-01T10:00:00Z\tr-1\tcafé ☕ 注文\n").text == "café ☕ 注文\n"
    long = "x" * 2_000_000
    assert parse_message(long).kind == "log"
    deep = "[" * 5000 + "]" * 5000
    assert parse_message("{\"a\":" + deep + "}").kind == "log"
    assert parse_message("{" + "x" * (2 << 20)).kind == "log"


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_parser_never_raises(text):
    p = parse_message(text)
    assert p.kind


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["REPORT RequestId: ", "START RequestId: ", "{\"type\":\"platform.report\",\"record\":",
                        "[ERROR]\t", "2024-05-01T10:00:00.000Z\t", "RequestId: a Error: ", "INIT_START "]),
       st.text(max_size=200))
def test_parser_never_raises_on_platform_prefixes(prefix, tail):
    assert parse_message(prefix + tail).kind
