"""Whole invocations from real log streams, through the pure fold (pipeline/invocations.py).

Each stream is a START … REPORT sequence as published (AWS documentation, other projects'
fixtures, issue threads); the expected invocation fields are written by hand from the lines,
not computed by the simulator. One of them (Datadog's timeout fixture) has the "Task timed
out" line after the REPORT, as CloudWatch stored it. Where a source gives no event times, events are one
millisecond apart and no time field is asserted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.invocations import fold_stream, in_event_order
from pipeline.model import LogEvent

CORPUS = {json.loads(raw)["line"]: json.loads(raw)["source"]
          for raw in (Path(__file__).resolve().parents[1] / "data" / "real-lines.jsonl").read_text().splitlines()}
GROUP = "/aws/lambda/real"
STREAM = "2024/03/04/[$LATEST]0123456789abcdef0123456789abcdef"

# -- AWS docs, "Lambda execution environment", failures in the invoke phase (old and new style)
DOC = "https://docs.aws.amazon.com/zh_cn/lambda/latest/dg/lambda-runtime-environment.html"
TIMEOUT_NEW = [
    "START RequestId: 527cb862-4f5e-49a9-9ae4-a7edc90f0fda Version: $LATEST",
    "END RequestId: 527cb862-4f5e-49a9-9ae4-a7edc90f0fda",
    "REPORT RequestId: 527cb862-4f5e-49a9-9ae4-a7edc90f0fda Duration: 3016.78 ms Billed Duration: 3016 ms Memory Size: 128 MB Max Memory Used: 31 MB Init Duration: 84.00 ms Status: timeout",
]
TIMEOUT_OLD = [
    "START RequestId: b70435cc-261c-4438-b9b6-efe4c8f04b21 Version: $LATEST",
    "2024-03-04T17:22:38.033Z b70435cc-261c-4438-b9b6-efe4c8f04b21 Task timed out after 3.00 seconds",
    "END RequestId: b70435cc-261c-4438-b9b6-efe4c8f04b21",
    "REPORT RequestId: b70435cc-261c-4438-b9b6-efe4c8f04b21 Duration: 3004.92 ms Billed Duration: 3000 ms Memory Size: 128 MB Max Memory Used: 33 MB Init Duration: 111.23 ms",
]
CRASH_NEW = [
    "START RequestId: 5b866fb1-7154-4af6-8078-6ef6ca4c2ddd Version: $LATEST",
    "END RequestId: 5b866fb1-7154-4af6-8078-6ef6ca4c2ddd",
    "REPORT RequestId: 5b866fb1-7154-4af6-8078-6ef6ca4c2ddd Duration: 133.61 ms Billed Duration: 133 ms Memory Size: 128 MB Max Memory Used: 31 MB Init Duration: 80.00 ms Status: error Error Type: Runtime.ExitError",
]
CRASH_OLD = [
    "START RequestId: c3252230-c73d-49f6-8844-968c01d1e2e1 Version: $LATEST",
    "RequestId: c3252230-c73d-49f6-8844-968c01d1e2e1 Error: Runtime exited without providing a reason\nRuntime.ExitError",
    "END RequestId: c3252230-c73d-49f6-8844-968c01d1e2e1",
    "REPORT RequestId: c3252230-c73d-49f6-8844-968c01d1e2e1 Duration: 933.59 ms Billed Duration: 934 ms Memory Size: 128 MB Max Memory Used: 9 MB",
]
# -- elastic integrations, .NET function with Powertools (INIT_START … REPORT, X-Ray)
DOTNET = [
    "INIT_START Runtime Version: dotnet:6.v13        Runtime Version ARN: arn:aws:lambda:ap-southeast-2::runtime:699f346a05dae24c58c45790bc4089f252bf17dae3997e79b17d939a288aa1ec",
    "START RequestId: bed25b38-d012-42e7-ba28-f272535fb80e Version: $LATEST",
    "2023-02-20T14:15:29.201Z        bed25b38-d012-42e7-ba28-f272535fb80e    info   {\"_aws\":{\"Timestamp\":1676902528962,\"CloudWatchMetrics\":[{\"Namespace\":\"sam-app-logging\",\"Metrics\":[{\"Name\":\"ColdStart\",\"Unit\":\"Count\"}],\"Dimensions\":[[\"FunctionName\"],[\"Service\"]]}]},\"FunctionName\":\"sam-app-HelloWorldFunction-haKIoVeose2p\",\"Service\":\"PowertoolsHelloWorld\",\"ColdStart\":1}",
    "END RequestId: bed25b38-d012-42e7-ba28-f272535fb80e",
    "REPORT RequestId: bed25b38-d012-42e7-ba28-f272535fb80e  Duration: 2450.99 ms   Billed Duration: 2451 ms Memory Size: 256 MB     Max Memory Used: 74 MB  Init Duration: 240.05 ms\nXRAY TraceId: 1-63f3807f-5dbcb9910c96f50742707542       SegmentId: 16b362cd5f52cba0",
]
# -- DataDog/datadog-lambda-extension#555, Node.js with an extension, init-phase 'undefined' lines
NODE_EXT = [
    "INIT_START Runtime Version: nodejs:18.v57\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:8865cfc6a1d3f2dfabf5c509eaa9fbd70aa12fa4bbe614047030158c21978bcc",
    "TELEMETRY\tName: datadog-agent\tState: Subscribed\tTypes: [Extension, Function, Platform]",
    "2025-02-18T14:04:09.514Z\tundefined\tINFO\tConfiguring log4js",
    "2025-02-18T14:04:09.519Z\tundefined\tINFO\tlog4js configured",
    "EXTENSION\tName: datadog-agent\tState: Ready\tEvents: [INVOKE, SHUTDOWN]",
    "START RequestId: da0e9a3a-18e9-46b1-80c7-0757056e404e Version: $LATEST",
    "END RequestId: da0e9a3a-18e9-46b1-80c7-0757056e404e",
    "REPORT RequestId: da0e9a3a-18e9-46b1-80c7-0757056e404e\tDuration: 329.93 ms\tBilled Duration: 330 ms\tMemory Size: 1024 MB\tMax Memory Used: 199 MB\tInit Duration: 2766.58 ms",
]
# -- elastic integrations, JSON log format: platform.start + platform.report (Powertools Python function)
JSON_FORMAT = [
    '{"time":"2025-05-05T04:01:29.886Z","type":"platform.start","record":{"requestId":"01ad0e05-391e-4507-9233-ae7ad823dbc1","functionArn":"arn:aws:lambda:ap-south-1:11212121212112:function:sam-app-powertools-python-HelloWorldFunction-snAkfaCNYJjx","version":"$LATEST","tracing":{"spanId":"4a16401155d9ea8d","type":"X-Amzn-Trace-Id","value":"Root=1-68183818-4eab0e4002398a2f375bd11a;Parent=03c383535c3c289b;Sampled=1"}}}',
    '{"time":"2025-05-05T04:01:29.912Z","type":"platform.report","record":{"requestId":"01ad0e05-391e-4507-9233-ae7ad823dbc1","metrics":{"durationMs":26.843,"billedDurationMs":27,"memorySizeMB":128,"maxMemoryUsedMB":77,"initDurationMs":772.443},"tracing":{"spanId":"4a16401155d9ea8d","type":"X-Amzn-Trace-Id","value":"Root=1-68183818-4eab0e4002398a2f375bd11a;Parent=03c383535c3c289b;Sampled=1"},"status":"success"}}',
]
# -- Lambda Managed Instances: a platform.report with only durationMs (Datadog forwarder test)
MANAGED = [
    '{"time":"2026-01-08T18:22:35.343Z","type":"platform.report","record":{"requestId":"4f423807-598d-47ae-9652-4f7ee31d4d10","metrics":{"durationMs":2.524},"spans":[{"name":"responseLatency","start":"2026-01-08T18:22:35.342Z","durationMs":0.642},{"name":"responseDuration","start":"2026-01-08T18:22:35.343Z","durationMs":0.075}],"status":"success"}}',
]

# -- docwho2/java-connect-lex-chatgpt README, `sam logs` (2023): a SnapStart restore, then the request
SNAP_SAM = [
    "RESTORE_START Runtime Version: java:11.v20\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:b8b295733fb8ae6769e0fb039181ce76e1f54a4d04bb5ca7ded937bb0d839109",
    "RESTORE_REPORT Restore Duration: 398.97 ms",
    "START RequestId: 8c360c87-d4b7-4423-b5f3-af02be3c1763 Version: 72",
    "8c360c87-d4b7-4423-b5f3-af02be3c1763 DEBUG ChatGPTLambda:56 - Intent: FallbackIntent",
    "END RequestId: 8c360c87-d4b7-4423-b5f3-af02be3c1763",
    "REPORT RequestId: 8c360c87-d4b7-4423-b5f3-af02be3c1763\tDuration: 2338.66 ms\tBilled Duration: 2521 ms\tMemory Size: 3009 MB\tMax Memory Used: 173 MB\tRestore Duration: 398.97 ms\tBilled Restore Duration: 182 ms\t",
]
# -- luketn/java-lambda-best-practice readme, console copy (2025): the function logs while restoring
SNAP_CONSOLE = [
    "RESTORE_START Runtime Version: java:21.v38 Runtime Version ARN: arn:aws:lambda:ap-southeast-2::runtime:81e4ff5669ca00936ae2ebcd7e3ee4b820d9f1dec101bbabbb706dc9e1481298",
    "Restored SnapStart snapshot.",
    "RESTORE_REPORT Restore Duration: 789.64 ms",
    "START RequestId: 5b321b10-9dfa-4a05-b900-c45b96303238 Version: 23",
    "END RequestId: 5b321b10-9dfa-4a05-b900-c45b96303238",
    "REPORT RequestId: 5b321b10-9dfa-4a05-b900-c45b96303238\tDuration: 149.53 ms\tBilled Duration: 313 ms\tMemory Size: 3538 MB\tMax Memory Used: 163 MB\tRestore Duration: 789.64 ms\tBilled Restore Duration: 163 ms\t",
]

CASES = [
    ("timeout, new style: no 'Task timed out' line", TIMEOUT_NEW, dict(
        request_id="527cb862-4f5e-49a9-9ae4-a7edc90f0fda", outcome="timeout", error_type="Sandbox.Timedout",
        duration_ms=3016.78, billed_duration_ms=3016.0, memory_size_mb=128, max_memory_used_mb=31,
        init_duration_ms=84.0, cold_start_kind="on-demand")),
    ("timeout, old style", TIMEOUT_OLD, dict(
        request_id="b70435cc-261c-4438-b9b6-efe4c8f04b21", outcome="timeout", error_type="Sandbox.Timedout",
        duration_ms=3004.92, billed_duration_ms=3000.0, max_memory_used_mb=33, init_duration_ms=111.23,
        cold_start_kind="on-demand")),
    ("runtime crash, new style", CRASH_NEW, dict(
        request_id="5b866fb1-7154-4af6-8078-6ef6ca4c2ddd", outcome="crash", error_type="Runtime.ExitError",
        duration_ms=133.61, billed_duration_ms=133.0, init_duration_ms=80.0, cold_start_kind="on-demand")),
    ("runtime crash, old style", CRASH_OLD, dict(
        request_id="c3252230-c73d-49f6-8844-968c01d1e2e1", outcome="crash", error_type="Runtime.ExitError",
        error_message="Runtime exited without providing a reason", duration_ms=933.59, billed_duration_ms=934.0,
        max_memory_used_mb=9, init_duration_ms=None, cold_start_kind="none")),
    (".NET cold start with X-Ray", DOTNET, dict(
        request_id="bed25b38-d012-42e7-ba28-f272535fb80e", outcome="success", error_type=None, duration_ms=2450.99,
        billed_duration_ms=2451.0, memory_size_mb=256, max_memory_used_mb=74, init_duration_ms=240.05,
        cold_start_kind="on-demand", runtime_version="dotnet:6.v13",
        xray_trace_id="1-63f3807f-5dbcb9910c96f50742707542")),
    ("Node.js with an extension; init lines belong to no invocation", NODE_EXT, dict(
        request_id="da0e9a3a-18e9-46b1-80c7-0757056e404e", outcome="success", duration_ms=329.93,
        billed_duration_ms=330.0, memory_size_mb=1024, max_memory_used_mb=199, init_duration_ms=2766.58,
        cold_start_kind="on-demand", runtime_version="nodejs:18.v57", log_count=3)),
    ("JSON log format", JSON_FORMAT, dict(
        request_id="01ad0e05-391e-4507-9233-ae7ad823dbc1", outcome="success", duration_ms=26.843,
        billed_duration_ms=27.0, memory_size_mb=128, max_memory_used_mb=77, init_duration_ms=772.443,
        cold_start_kind="on-demand", function_version="$LATEST",
        xray_trace_id="1-68183818-4eab0e4002398a2f375bd11a")),
    ("SnapStart restore, sam logs", SNAP_SAM, dict(
        request_id="8c360c87-d4b7-4423-b5f3-af02be3c1763", outcome="success", duration_ms=2338.66,
        billed_duration_ms=2521.0, memory_size_mb=3009, max_memory_used_mb=173, restore_duration_ms=398.97,
        billed_restore_duration_ms=182.0, init_duration_ms=None, cold_start_kind="snapstart",
        runtime_version="java:11.v20", function_version="72", log_count=4, init_start_ms=1_700_000_000_000)),
    ("SnapStart restore with the function's own restore-phase line", SNAP_CONSOLE, dict(
        request_id="5b321b10-9dfa-4a05-b900-c45b96303238", outcome="success", duration_ms=149.53,
        billed_duration_ms=313.0, memory_size_mb=3538, max_memory_used_mb=163, restore_duration_ms=789.64,
        billed_restore_duration_ms=163.0, cold_start_kind="snapstart", runtime_version="java:21.v38",
        function_version="23", log_count=3)),
    ("Lambda Managed Instances: duration only", MANAGED, dict(
        request_id="4f423807-598d-47ae-9652-4f7ee31d4d10", outcome="success", duration_ms=2.524,
        billed_duration_ms=None, memory_size_mb=None, cold_start_kind="none")),
]


def _events(lines: list[str]) -> list[LogEvent]:
    return [LogEvent(id=f"{i:08d}", timestamp=1_700_000_000_000 + i, message=line, log_group=GROUP,
                     log_stream=STREAM, function_name="real") for i, line in enumerate(lines)]


def test_streams_are_made_of_corpus_lines():
    for _, lines, _ in CASES:
        for line in lines:
            assert line in CORPUS, f"not in tests/data/real-lines.jsonl: {line!r}"


@pytest.mark.parametrize(("name", "lines", "want"), CASES, ids=[c[0] for c in CASES])
def test_real_stream_folds_to_the_invocation_the_lines_describe(name, lines, want):
    invocations = list(fold_stream(_events(lines)))
    assert len(invocations) == 1, invocations
    inv = invocations[0]
    wrong = {k: (v, getattr(inv, k)) for k, v in want.items() if getattr(inv, k) != v}
    assert not wrong, f"{name}: field: (expected, folded) {wrong}"


def test_datadog_forwarder_node_stream():
    """DataDog/datadog-serverless-functions tests/events/cloudwatch_logs.json: a warm Node.js
    invocation whose START is not in the payload (the fold rebuilds it from the REPORT)."""
    raw = [line for line in CORPUS if CORPUS[line].endswith("tests/events/cloudwatch_logs.json")]
    report = next(line for line in raw if line.startswith("REPORT"))
    logs = [line for line in raw if not line.startswith(("REPORT", "END"))]
    invocations = list(fold_stream(_events([*logs, "END RequestId: f08bb4c8-d6b2-4f05-ac17-af7e2ba005fb\n", report])))
    assert len(invocations) == 1
    inv = invocations[0]
    assert (inv.request_id, inv.outcome, inv.duration_ms, inv.billed_duration_ms, inv.memory_size_mb,
            inv.max_memory_used_mb, inv.cold_start_kind, inv.xray_trace_id) == (
        "f08bb4c8-d6b2-4f05-ac17-af7e2ba005fb", "success", 619.31, 700.0, 128, 118, "none",
        "1-5e61292c-cc1229a4dfbeae1043928548")


# -- DataDog/datadog-serverless-functions, aws/logs_monitoring/tools/integration_tests/snapshots/
#    cloudwatch_log_timeout.json: a Python function that timed out (2020), the payload as CloudWatch
#    delivered it. END, REPORT and "Task timed out" share one timestamp and CloudWatch's event ids
#    put the timeout line LAST, after the REPORT.
DD_TIMEOUT_RID = "7c9567b5-107b-4a6c-8798-0157ac21db52"
DD_TIMEOUT = [  # (CloudWatch event id, timestamp, message)
    ("35496429375792603298393743017356257146982675867810398208", 1591714943146,
     f"START RequestId: {DD_TIMEOUT_RID} Version: $LATEST\n"),
    ("35496429442806342619978265557671090556291002193281548289", 1591714946151, f"END RequestId: {DD_TIMEOUT_RID}\n"),
    ("35496429442806342619978265557671090556291002193281548290", 1591714946151,
     f"REPORT RequestId: {DD_TIMEOUT_RID}\tDuration: 3003.16 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\t"
     "Max Memory Used: 48 MB\tInit Duration: 127.02 ms\t\n"),
    ("35496429442806342619978265557671090556291002193281548291", 1591714946151,
     f"2020-06-09T15:02:26.150Z {DD_TIMEOUT_RID} Task timed out after 3.00 seconds\n\n"),
]


def datadog_timeout_events() -> list[LogEvent]:
    return [LogEvent(id=i, timestamp=ts, message=m, log_group="/aws/lambda/storms-cloudwatch-event",
                     log_stream="2020/06/09/[$LATEST]b249865adaaf4fad80f95f8ad09725b8",
                     function_name="storms-cloudwatch-event") for i, ts, m in DD_TIMEOUT]


def test_datadog_timeout_line_after_the_report_is_a_timeout():
    events = datadog_timeout_events()
    for ev in events:
        assert ev.message in CORPUS, ev.message
    assert [ev.message[:6] for ev in in_event_order(events)][-2:] == ["REPORT", "2020-0"]  # the order the fold reads
    invocations = list(fold_stream(events))
    assert len(invocations) == 1
    inv = invocations[0]
    want = dict(request_id=DD_TIMEOUT_RID, outcome="timeout", error_type="Sandbox.Timedout",
                error_message=f"2020-06-09T15:02:26.150Z {DD_TIMEOUT_RID} Task timed out after 3.00 seconds",
                duration_ms=3003.16, billed_duration_ms=3000.0, memory_size_mb=128, max_memory_used_mb=48,
                init_duration_ms=127.02, cold_start_kind="on-demand", start_ms=1591714943146,
                end_ms=1591714946149, log_count=4, anchor_event_id=DD_TIMEOUT[0][0])
    wrong = {k: (v, getattr(inv, k)) for k, v in want.items() if getattr(inv, k) != v}
    assert not wrong, f"field: (expected, folded) {wrong}"
