"""The text-format platform lines, as Lambda writes them (and as shippers mangle them)."""

import pytest

from pipeline.parse import parse_message, parse_report

RID = "6b2a7c1e-3d4f-4a5b-8c6d-7e8f9a0b1c2d"
REPORT_COLD = (f"REPORT RequestId: {RID}\tDuration: 102.25 ms\tBilled Duration: 103 ms\t"
               "Memory Size: 128 MB\tMax Memory Used: 70 MB\tInit Duration: 236.31 ms\t\n")


def test_report_with_init_duration():
    rec = parse_report(REPORT_COLD)
    assert rec is not None
    assert (rec.request_id, rec.duration_ms, rec.billed_duration_ms) == (RID, 102.25, 103.0)
    assert (rec.memory_size_mb, rec.max_memory_used_mb, rec.init_duration_ms) == (128, 70, 236.31)
    assert rec.restore_duration_ms is None and rec.status is None


def test_report_fields_separated_by_spaces_parse_the_same():
    assert parse_report(REPORT_COLD.replace("\t", " ")) == parse_report(REPORT_COLD)


def test_report_fields_in_any_order():
    shuffled = (f"REPORT RequestId: {RID}\tMax Memory Used: 70 MB\tInit Duration: 236.31 ms\t"
                "Memory Size: 128 MB\tBilled Duration: 103 ms\tDuration: 102.25 ms\t\n")
    assert parse_report(shuffled) == parse_report(REPORT_COLD)


def test_report_with_xray_part():
    line = (f"REPORT RequestId: {RID}\tDuration: 2.01 ms\tBilled Duration: 3 ms\tMemory Size: 512 MB\t"
            "Max Memory Used: 81 MB\t\nXRAY TraceId: 1-6738a2f0-5b1c2d3e4f5a6b7c8d9e0f1a\t"
            "SegmentId: 3a4b5c6d7e8f9a0b\tSampled: true\n")
    p = parse_message(line)
    assert p.kind == "report"
    assert p.platform.xray_trace_id == "1-6738a2f0-5b1c2d3e4f5a6b7c8d9e0f1a"
    assert p.platform.segment_id == "3a4b5c6d7e8f9a0b" and p.platform.sampled is True
    assert p.xray_trace_id == p.platform.xray_trace_id


def test_report_timeout_and_oom_status():
    t = parse_report(f"REPORT RequestId: {RID}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\t"
                     "Memory Size: 128 MB\tMax Memory Used: 55 MB\tStatus: timeout\n")
    assert t.status == "timeout" and t.error_type is None
    o = parse_message(f"REPORT RequestId: {RID}\tDuration: 812.00 ms\tBilled Duration: 812 ms\t"
                      "Memory Size: 128 MB\tMax Memory Used: 128 MB\tStatus: error\tError Type: Runtime.OutOfMemory\n")
    assert o.platform.status == "error" and o.platform.error_type == "Runtime.OutOfMemory"
    assert "oom" in o.signals


def test_snapstart_report_and_restore_lines():
    r = parse_report(f"REPORT RequestId: {RID}\tDuration: 1258.65 ms\tBilled Duration: 1259 ms\t"
                     "Memory Size: 512 MB\tMax Memory Used: 145 MB\tRestore Duration: 571.67 ms\t"
                     "Billed Restore Duration: 292 ms\t\n")
    assert (r.restore_duration_ms, r.billed_restore_duration_ms, r.duration_ms) == (571.67, 292.0, 1258.65)
    assert r.init_duration_ms is None
    rs = parse_message("RESTORE_START Runtime Version: java:21.v27\tRuntime Version ARN: arn:aws:lambda:x::runtime:y\n")
    assert rs.kind == "restore_start" and rs.platform.runtime_version == "java:21.v27"
    assert rs.platform.runtime_version_arn == "arn:aws:lambda:x::runtime:y"
    rr = parse_message("RESTORE_REPORT Restore Duration: 571.67 ms\n")
    assert rr.kind == "restore_report" and rr.platform.restore_duration_ms == 571.67


def test_managed_instances_report_without_billed_duration():
    r = parse_report(f"REPORT RequestId: {RID}\tDuration: 2.52 ms\tMemory Size: 2048 MB\tMax Memory Used: 160 MB\t\n")
    assert r.billed_duration_ms is None and r.duration_ms == 2.52 and r.memory_size_mb == 2048


def test_start_end_init_lines():
    s = parse_message(f"START RequestId: {RID} Version: $LATEST\n")
    assert (s.kind, s.request_id, s.platform.version) == ("start", RID, "$LATEST")
    e = parse_message(f"END RequestId: {RID}\n")
    assert (e.kind, e.request_id) == ("end", RID)
    i = parse_message("INIT_START Runtime Version: python:3.12.v38\tRuntime Version ARN: "
                      "arn:aws:lambda:eu-west-1::runtime:0f6e1b9f0a2c\n")
    assert i.kind == "init_start" and i.platform.runtime_version == "python:3.12.v38"
    assert i.platform.runtime_version_arn.endswith("0f6e1b9f0a2c")
    ir = parse_message("INIT_REPORT Init Duration: 180000.45 ms\tPhase: invoke\tStatus: timeout\n")
    assert (ir.kind, ir.platform.init_duration_ms, ir.platform.phase, ir.platform.status) == (
        "init_report", 180000.45, "invoke", "timeout")


def test_timeout_line():
    p = parse_message(f"2024-05-01T10:00:03.004Z {RID} Task timed out after 3.00 seconds\n\n")
    assert (p.kind, p.request_id, p.platform.timeout_s, p.level) == ("timeout", RID, 3.0, "ERROR")


@pytest.mark.parametrize("detail,etype,signal", [
    ("Runtime exited with error: signal: killed", "Runtime.ExitError", "runtime_exit"),
    ("Runtime exited with error: signal: killed", "Runtime.OutOfMemory", "oom"),
    ("Runtime exited with error: exit status 1", "Runtime.ExitError", "runtime_exit"),
])
def test_runtime_exit_lines(detail, etype, signal):
    p = parse_message(f"RequestId: {RID} Error: {detail}\n{etype}\n")
    assert (p.kind, p.request_id, p.error_type) == ("runtime_error", RID, etype)
    assert p.error_message == detail and signal in p.signals


def test_extension_line():
    p = parse_message("EXTENSION\tName: datadog-agent\tState: Ready\tEvents: [INVOKE,SHUTDOWN]\n")
    assert p.kind == "extension"
    assert (p.platform.extension_name, p.platform.extension_state) == ("datadog-agent", "Ready")
    assert p.platform.extension_events == ("INVOKE", "SHUTDOWN")


def test_garbled_numbers_stay_unknown_not_invented():
    r = parse_report(f"REPORT RequestId: {RID}\tDuration: 1.2.3 ms\tMemory Size: 128 MB\n")
    assert r.duration_ms is None and r.memory_size_mb == 128


@pytest.mark.parametrize("line", ["START of something", "REPORT card", "END", "STARTRequestId", "", "\x00\x01",
                                  "REPORT RequestId:", "Task timed out after", "RequestId: x Error:"])
def test_lookalikes_are_plain_logs(line):
    p = parse_message(line)
    assert p.kind in ("log", "start", "end", "report")
    if not line.startswith(("REPORT RequestId", "START RequestId", "END RequestId")):
        assert p.kind == "log"
