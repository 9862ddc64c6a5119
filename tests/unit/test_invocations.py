"""The pure fold over one log stream: invocations, cold starts, outcomes, costs."""

import orjson

from pipeline.cost import invocation_cost
from pipeline.invocations import fold_stream
from pipeline.model import LogEvent

STREAM = "2024/05/01/[$LATEST]0225597e48f74a659916f0e482df5b92"
T0 = 1714557600000


def events(*msgs_at: tuple[int, str]) -> list[LogEvent]:
    return [LogEvent(id=f"{100000 + i}", timestamp=T0 + at, message=m, log_group="/aws/lambda/orders",
                     log_stream=STREAM, function_name="orders", function_version="$LATEST",
                     instance_id="0225597e48f74a659916f0e482df5b92")
            for i, (at, m) in enumerate(msgs_at)]


def rid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def report(n: int, dur: float = 100.0, extra: str = "", mem: int = 128, used: int = 70) -> str:
    return (f"REPORT RequestId: {rid(n)}\tDuration: {dur} ms\tBilled Duration: {int(dur) + 1} ms\t"
            f"Memory Size: {mem} MB\tMax Memory Used: {used} MB\t{extra}\n")


def one(evs):
    out = list(fold_stream(evs))
    assert len(out) == 1, out
    return out[0]


def test_on_demand_cold_start_then_warm():
    invs = list(fold_stream(events(
        (0, "INIT_START Runtime Version: python:3.12.v38\tRuntime Version ARN: arn:x\n"),
        (240, f"START RequestId: {rid(1)} Version: $LATEST\n"),
        (250, f"[INFO]\t2024-05-01T10:00:00.250Z\t{rid(1)}\thello\n"),
        (340, f"END RequestId: {rid(1)}\n"),
        (341, report(1, extra="Init Duration: 236.31 ms\t")),
        (5000, f"START RequestId: {rid(2)} Version: $LATEST\n"),
        (5100, f"END RequestId: {rid(2)}\n"),
        (5101, report(2, extra="Init Duration: 0.00 ms\t")),
    )))
    assert [i.request_id for i in invs] == [rid(1), rid(2)]
    cold, warm = invs
    assert (cold.cold_start_kind, cold.cold_start, cold.init_duration_ms) == ("on-demand", True, 236.31)
    assert cold.runtime_version == "python:3.12.v38" and cold.outcome == "success"
    assert cold.log_count == 4 and cold.log_bytes > 0 and cold.start_ms == T0 + 240
    assert (warm.cold_start_kind, warm.cold_start, warm.init_duration_ms) == ("none", False, None)


def test_provisioned_init_long_before_first_invocation_is_not_user_facing():
    inv = one(events(
        (0, "INIT_START Runtime Version: python:3.12.v38\tRuntime Version ARN: arn:x\n"),
        (300_000, f"START RequestId: {rid(1)} Version: 7\n"),
        (300_100, report(1, extra="Init Duration: 250.00 ms\t")),
    ))
    assert inv.cold_start_kind == "provisioned" and inv.cold_start is False
    assert inv.init_duration_ms == 250.0


def test_snapstart_restore():
    inv = one(events(
        (0, "RESTORE_START Runtime Version: java:21.v27\tRuntime Version ARN: arn:x\n"),
        (600, "RESTORE_REPORT Restore Duration: 571.67 ms\n"),
        (601, f"START RequestId: {rid(1)} Version: 3\n"),
        (1900, report(1, dur=1258.65, extra="Restore Duration: 571.67 ms\tBilled Restore Duration: 292 ms\t")),
    ))
    assert (inv.cold_start_kind, inv.cold_start, inv.restore_duration_ms, inv.billed_restore_duration_ms) == (
        "snapstart", True, 571.67, 292.0)


def test_timeout_and_disguised_oom():
    t = one(events((0, f"START RequestId: {rid(1)} Version: $LATEST\n"),
                   (3000, f"2024-05-01T10:00:03.000Z {rid(1)} Task timed out after 3.00 seconds\n\n"),
                   (3001, report(1, dur=3000.0, extra="Status: timeout\n"))))
    assert (t.outcome, t.error_type) == ("timeout", "Sandbox.Timedout")
    assert "Task timed out" in t.error_message
    o = one(events((0, f"START RequestId: {rid(1)} Version: $LATEST\n"),
                   (3001, report(1, dur=3000.0, used=128, extra="Status: timeout\n"))))
    assert o.outcome == "out_of_memory" and o.error_type == "Runtime.OutOfMemory"


def test_oom_kill_and_crash():
    oom = one(events((0, f"START RequestId: {rid(1)} Version: $LATEST\n"),
                     (800, f"RequestId: {rid(1)} Error: Runtime exited with error: signal: killed\nRuntime.OutOfMemory\n"),
                     (812, report(1, dur=812.0, used=128, extra="Status: error\tError Type: Runtime.OutOfMemory\n"))))
    assert oom.outcome == "out_of_memory"
    crash = one(events((0, f"START RequestId: {rid(1)} Version: $LATEST\n"),
                       (50, f"RequestId: {rid(1)} Error: Runtime exited with error: exit status 1\nRuntime.ExitError\n"),
                       (60, report(1, dur=60.0, extra="Status: error\tError Type: Runtime.ExitError\n"))))
    assert (crash.outcome, crash.error_type) == ("crash", "Runtime.ExitError")


def test_start_without_report_then_next_start_is_a_crash_and_tail_is_unfinished():
    invs = list(fold_stream(events((0, f"START RequestId: {rid(1)} Version: $LATEST\n"),
                                   (5000, f"START RequestId: {rid(2)} Version: $LATEST\n"))))
    assert [(i.request_id, i.outcome) for i in invs] == [(rid(1), "crash"), (rid(2), "unfinished")]


def test_function_error_from_uncaught_line_without_request_id():
    inv = one(events((0, f"START RequestId: {rid(1)} Version: $LATEST\n"),
                     (10, "[ERROR] KeyError: 'amount'\nTraceback (most recent call last):\n  File \"/var/task/app.py\"\n"),
                     (20, report(1, dur=20.0))))
    assert (inv.outcome, inv.error_type, inv.error_message) == ("error", "KeyError", "'amount'")


def test_report_without_start_and_duplicate_events():
    evs = events((0, f"[INFO]\t2024-05-01T10:00:00Z\t{rid(1)}\tlate line\n"), (100, report(1, dur=100.0)))
    inv = one(evs + [evs[1]])  # the REPORT delivered twice
    assert inv.start_ms == T0 and inv.outcome == "success"


def test_json_format_invocation_with_tracing_and_correlation():
    def rec(t, r):
        return orjson.dumps({"time": "2024-05-01T10:00:00.000Z", "type": t, "record": r}).decode()
    trace = "1-6738a2f0-5b1c2d3e4f5a6b7c8d9e0f1a"
    inv = one(events(
        (0, rec("platform.initStart", {"initializationType": "on-demand", "phase": "init",
                                        "runtimeVersion": "nodejs:20.v30"})),
        (200, rec("platform.initReport", {"initializationType": "on-demand", "status": "success",
                                          "metrics": {"durationMs": 190.5}})),
        (201, rec("platform.start", {"requestId": rid(1), "version": "$LATEST",
                                     "tracing": {"type": "X-Amzn-Trace-Id", "value": f"Root={trace};Sampled=1"}})),
        (210, orjson.dumps({"timestamp": "2024-05-01T10:00:00.210Z", "level": "INFO", "message": "m",
                            "requestId": rid(1), "correlation_id": "corr-1"}).decode()),
        (300, rec("platform.runtimeDone", {"requestId": rid(1), "status": "success"})),
        (301, rec("platform.report", {"requestId": rid(1), "status": "success",
                                      "metrics": {"durationMs": 99.5, "billedDurationMs": 290,
                                                  "memorySizeMB": 256, "maxMemoryUsedMB": 90,
                                                  "initDurationMs": 190.5}})),
    ))
    assert (inv.cold_start_kind, inv.init_duration_ms, inv.xray_trace_id) == ("on-demand", 190.5, trace)
    assert inv.correlation_ids == ["corr-1"] and inv.outcome == "success"
    doc = inv.to_doc()
    assert doc["trace.id"] == "6738a2f05b1c2d3e4f5a6b7c8d9e0f1a" and doc["labels.correlation_id"] == "corr-1"
    assert doc["aws.lambda.memory_size_mb"] == 256 and doc["faas.coldstart"] is True


def test_cost_uses_architecture_prices():
    x86 = invocation_cost(1000, 1024, "x86_64")
    arm = invocation_cost(1000, 1024, "arm64")
    assert abs(x86 - (0.0000166667 + 0.0000002)) < 1e-12
    assert arm < x86 and invocation_cost(None, 128) is None
    inv = one(events((0, f"START RequestId: {rid(1)} Version: $LATEST\n"), (1000, report(1, dur=999.0))))
    assert inv.estimated_cost_usd == invocation_cost(1000, 128)


def test_async_retry_with_the_same_request_id_gets_its_own_document_id():
    invs = list(fold_stream(events(
        (0, f"START RequestId: {rid(1)} Version: $LATEST\n"),
        (50, f"RequestId: {rid(1)} Error: Runtime exited with error: exit status 1\nRuntime.ExitError\n"),
        (60, report(1, dur=60.0, extra="Status: error\tError Type: Runtime.ExitError\n")),
        (60_000, f"START RequestId: {rid(1)} Version: $LATEST\n"),  # Lambda's async retry
        (60_100, report(1, dur=100.0)),
    )))
    assert [i.outcome for i in invs] == ["crash", "success"]
    assert invs[0].doc_id() != invs[1].doc_id()
    assert invs[0].doc_id() == list(fold_stream(events((0, f"START RequestId: {rid(1)} Version: $LATEST\n"))))[0].doc_id()
