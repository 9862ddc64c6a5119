"""Property tests of the parser and the payload decoder: they never raise, never let an impossible
number through, and what they emit round-trips.

Complements the two never-raises properties in ``test_parse_json_and_runtime.py`` (random text,
random text after a platform prefix) with structure-aware inputs: REPORT lines whose numbers are
anything a shipper could write, platform records and application JSON with every wrong type,
random bytes as payloads and as files, random event times.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import math
import re

import orjson
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipeline.invocations import fold_stream
from pipeline.model import DeadLetter, LogEvent, PlatformRecord, iso_ms, pack_events, unpack_events
from pipeline.parse import parse_event, parse_message
from pipeline.parse.awslogs import PayloadError, decode_data, to_payload
from pipeline.parse.plausible import LIMITS, MIN_MEMORY_MB
from pipeline.sources.formats import read_stream

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NUMERIC = ("duration_ms", "billed_duration_ms", "memory_size_mb", "max_memory_used_mb", "init_duration_ms",
           "restore_duration_ms", "billed_restore_duration_ms")

# What a shipper, a copy-paste or an attacker can put where a number belongs.
number_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-0", "0.", ".5", "1.2.3", "", "9" * 400,
                     "0x10", "1_000", "١٢٣", "12ms", "--5"]),
    st.text(alphabet="0123456789.-+eE", max_size=12),
)
REPORT_NAMES = ("Duration", "Billed Duration", "Memory Size", "Max Memory Used", "Init Duration",
                "Restore Duration", "Billed Restore Duration")


def assert_plausible(rec: PlatformRecord | None) -> None:
    """No number that a real invocation cannot have survives the parse."""
    if rec is None:
        return
    for name in NUMERIC:
        value = getattr(rec, name)
        if value is not None:
            assert math.isfinite(value) and 0 <= value <= LIMITS[name], (name, value)
    if rec.memory_size_mb is not None:
        assert rec.memory_size_mb >= MIN_MEMORY_MB


@FAST
@given(st.lists(st.tuples(st.sampled_from(REPORT_NAMES), number_text), max_size=8),
       st.sampled_from(["\t", " ", "  "]), st.booleans())
def test_report_lines_with_any_numbers_never_raise_nor_poison(fields, sep, canonical_head):
    head = "REPORT RequestId: 6b2a7c1e-3d4f-4a5b-8c6d-7e8f9a0b1c2d"
    unit = {"Memory Size": "MB", "Max Memory Used": "MB"}
    line = sep.join([head] + [f"{name}: {value} {unit.get(name, 'ms')}" for name, value in fields]) + sep + "\n"
    p = parse_message(line if canonical_head else line.replace("\t", " "))
    assert p.kind == "report"
    assert_plausible(p.platform)


@FAST
@given(st.dictionaries(st.sampled_from(["durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB",
                                        "initDurationMs", "restoreDurationMs", "producedBytes"]),
                       st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                                 st.floats(allow_nan=False, allow_infinity=False),  # JSON has no inf
                                 st.text(max_size=10), st.lists(st.integers(), max_size=2))),
       st.sampled_from(["platform.report", "platform.initReport", "platform.runtimeDone", "platform.restoreReport"]),
       st.one_of(st.none(), st.text(max_size=5), st.integers()))
def test_platform_records_with_any_metric_values(metrics, kind, request_id):
    line = json.dumps({"time": "2024-05-01T10:00:00.000Z", "type": kind,
                       "record": {"requestId": request_id, "metrics": metrics}})
    p = parse_message(line)
    assert p.platform is not None and p.platform.kind != "log"
    assert_plausible(p.platform)
    assert p.request_id is None or isinstance(p.request_id, str)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=10)
APP_KEYS = ["level", "message", "msg", "timestamp", "requestId", "function_request_id", "correlation_id",
            "xray_trace_id", "errorType", "errorMessage", "stackTrace", "type", "record", "cold_start", "time"]


@FAST
@given(st.dictionaries(st.sampled_from(APP_KEYS), json_values, max_size=8))
def test_application_json_with_wrong_types_never_raises(obj):
    p = parse_message(json.dumps(obj))
    for attr in ("level", "request_id", "correlation_id", "xray_trace_id", "error_type", "error_message"):
        value = getattr(p, attr)
        assert value is None or isinstance(value, str), (attr, value)


# -- round trips --------------------------------------------------------------------------------
durations = st.floats(min_value=0, max_value=LIMITS["duration_ms"]).map(lambda v: round(v, 2))
memory = st.integers(min_value=MIN_MEMORY_MB, max_value=10_240)
request_ids = st.uuids().map(str)


@st.composite
def report_records(draw) -> PlatformRecord:
    rec = PlatformRecord(kind="report", request_id=draw(request_ids), duration_ms=draw(durations),
                         memory_size_mb=draw(memory))
    rec.max_memory_used_mb = draw(st.integers(min_value=1, max_value=rec.memory_size_mb))
    if draw(st.booleans()):
        rec.billed_duration_ms = float(math.ceil(rec.duration_ms))
    if draw(st.booleans()):
        rec.init_duration_ms = draw(durations.filter(lambda v: v > 0))
    elif draw(st.booleans()):
        rec.restore_duration_ms = draw(durations.filter(lambda v: v > 0))
        rec.billed_restore_duration_ms = float(draw(st.integers(0, 900_000)))
    if draw(st.booleans()):
        rec.status = draw(st.sampled_from(["timeout", "error"]))
        if rec.status == "error":
            rec.error_type = draw(st.sampled_from(["Runtime.OutOfMemory", "Runtime.ExitError", "Runtime.Unknown"]))
    if draw(st.booleans()):
        rec.xray_trace_id = f"1-{draw(st.integers(0, 2**32 - 1)):08x}-{draw(st.integers(0, 2**96 - 1)):024x}"
        rec.segment_id = f"{draw(st.integers(0, 2**64 - 1)):016x}"
        rec.sampled = draw(st.booleans())
    return rec


def render_report(rec: PlatformRecord, order: list[int], sep: str) -> str:
    """The REPORT line Lambda would write for ``rec``, fields in ``order``, separated by ``sep``."""
    parts = [f"Duration: {rec.duration_ms:.2f} ms"]
    if rec.billed_duration_ms is not None:
        parts.append(f"Billed Duration: {rec.billed_duration_ms:.0f} ms")
    parts += [f"Memory Size: {rec.memory_size_mb} MB", f"Max Memory Used: {rec.max_memory_used_mb} MB"]
    if rec.init_duration_ms is not None:
        parts.append(f"Init Duration: {rec.init_duration_ms:.2f} ms")
    if rec.restore_duration_ms is not None:
        parts += [f"Restore Duration: {rec.restore_duration_ms:.2f} ms",
                  f"Billed Restore Duration: {rec.billed_restore_duration_ms:.0f} ms"]
    if rec.status:
        parts.append(f"Status: {rec.status}")
        if rec.error_type:
            parts.append(f"Error Type: {rec.error_type}")
    parts = [parts[i] for i in sorted(range(len(parts)), key=lambda i: order[i % len(order)] if order else i)]
    line = sep.join([f"REPORT RequestId: {rec.request_id}", *parts]) + sep + "\n"
    if rec.xray_trace_id:
        line += f"XRAY TraceId: {rec.xray_trace_id}{sep}SegmentId: {rec.segment_id}{sep}Sampled: {str(rec.sampled).lower()}\n"
    return line


@settings(max_examples=300, deadline=None)
@given(report_records(), st.lists(st.integers(0, 20), max_size=9), st.sampled_from(["\t", " "]))
def test_a_rendered_report_parses_back_to_the_same_record(rec, order, sep):
    """In Lambda's order (the fast path) or any other (the by-name path), tabs or spaces."""
    p = parse_message(render_report(rec, order, sep))
    assert p.kind == "report" and "implausible_report" not in p.signals
    got = p.platform
    for name in ("request_id", *NUMERIC, "status", "error_type", "xray_trace_id", "segment_id", "sampled"):
        assert getattr(got, name) == getattr(rec, name), name


events = st.builds(
    LogEvent, id=st.text(min_size=1, max_size=30), timestamp=st.integers(-2**63, 2**63 - 1),
    message=st.text(max_size=200), log_group=st.text(max_size=30), log_stream=st.text(max_size=40),
    account=st.one_of(st.none(), st.from_regex(r"\d{12}", fullmatch=True)), region=st.one_of(st.none(), st.text(max_size=12)),
    function_name=st.one_of(st.none(), st.text(max_size=20)), function_version=st.one_of(st.none(), st.text(max_size=8)),
    instance_id=st.one_of(st.none(), st.text(max_size=32)), arrival_ms=st.one_of(st.none(), st.integers(0, 2**53)))


@FAST
@given(events)
def test_log_event_record_round_trips_through_json(ev):
    back = LogEvent.from_record(orjson.loads(orjson.dumps(ev.to_record())))
    assert back == ev and back.doc_id() == ev.doc_id()


@FAST
@given(st.lists(events, min_size=1, max_size=20))
def test_pack_and_unpack_round_trip_one_stream(batch):
    first = batch[0]
    same = [LogEvent(e.id, e.timestamp, e.message, first.log_group, first.log_stream, first.account, first.region,
                     first.function_name, first.function_version, first.instance_id, e.arrival_ms) for e in batch]
    assert unpack_events(pack_events(same)) == same


@FAST
@given(events)
def test_any_event_time_parses_and_renders_a_valid_document(ev):
    """Clock skew (year 1653, year 33658, 2^63 ms) is flagged, and @timestamp stays a valid date."""
    doc = parse_event(ev).to_doc()
    assert ISO.match(doc["@timestamp"]) and doc["@timestamp"] == iso_ms(ev.timestamp)
    skewed = not 1_388_534_400_000 <= ev.timestamp <= 4_102_444_800_000  # 2014 .. 2100
    if skewed:
        assert "clock_skew" in doc["aws.lambda.signals"]
    orjson.dumps(doc)


@FAST
@given(st.lists(st.one_of(
    st.sampled_from(["START RequestId: r1 Version: $LATEST\n", "END RequestId: r1\n",
                     "REPORT RequestId: r1\tDuration: -3 ms\tMemory Size: 99999 MB\tMax Memory Used: 1 MB\t\n",
                     "REPORT RequestId: r1\tDuration: nan ms\tBilled Duration: 1e999 ms\tMemory Size: 128 MB\t\n",
                     "RequestId: r1 Error: Runtime exited with error: signal: killed\nRuntime.ExitError\n",
                     "2024-05-01T10:00:03.004Z r1 Task timed out after 3.00 seconds\n",
                     "INIT_START Runtime Version: python:3.12.v38\n", "[ERROR] MemoryError\n"]),
    st.text(max_size=50)), max_size=30), st.integers(-2**40, 2**45))
def test_the_fold_never_raises_and_never_reports_impossible_numbers(messages, t0):
    evs = [LogEvent(str(i), t0 + i, m, "/aws/lambda/f", "2024/05/01/[$LATEST]abc") for i, m in enumerate(messages)]
    for inv in fold_stream(evs):
        orjson.dumps(inv.to_doc())
        for name in NUMERIC:
            v = getattr(inv, name)
            assert v is None or (math.isfinite(v) and v >= 0), (name, v)


# -- the decoder --------------------------------------------------------------------------------
@FAST
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300),
                 st.binary(max_size=200).map(lambda b: base64.b64encode(gzip.compress(b)).decode()),
                 json_values.map(lambda v: base64.b64encode(gzip.compress(json.dumps(v).encode())).decode())))
def test_decode_data_raises_only_payload_errors(data):
    try:
        obj = decode_data(data)
    except PayloadError as exc:
        assert str(exc)  # every refusal says why
        return
    assert isinstance(obj, dict)


subscription_objects = st.fixed_dictionaries(
    {"messageType": st.sampled_from(["DATA_MESSAGE", "CONTROL_MESSAGE", "OTHER", 5])},
    optional={"owner": json_values, "logGroup": json_values, "logStream": json_values,
              "logEvents": st.one_of(json_values, st.lists(st.one_of(json_values, st.fixed_dictionaries(
                  {"id": json_values, "timestamp": json_values, "message": json_values})), max_size=4))})


@FAST
@given(subscription_objects)
def test_to_payload_raises_only_payload_errors(obj):
    try:
        payload = to_payload(obj)
    except PayloadError as exc:
        assert str(exc)
        return
    for ev in payload.events:
        assert isinstance(ev.message, str) and isinstance(ev.timestamp, int)
        iso_ms(ev.timestamp)


@FAST
@given(st.lists(st.one_of(
    st.binary(max_size=120),
    subscription_objects.map(lambda o: orjson.dumps({"awslogs": {"data": base64.b64encode(
        gzip.compress(json.dumps(o).encode())).decode()}})),
    events.map(lambda e: orjson.dumps(e.to_record()))), max_size=6), st.booleans())
def test_any_file_reads_into_batches_and_dead_letters_only(lines, gz):
    data = b"\n".join(lines)
    data = gzip.compress(data) if gz else data
    assume(data.strip())
    for item in read_stream(io.BytesIO(data), "fuzz.ndjson"):
        assert isinstance(item, DeadLetter) or (isinstance(item, list) and all(isinstance(e, LogEvent) for e in item))
        if isinstance(item, DeadLetter):
            assert item.error and item.stage in ("read", "decode")


def test_a_long_token_before_the_timeout_phrase_parses_in_one_pass():
    """Found by bench/fuzz.py: the timeout regex backtracked quadratically over a long token
    (0.4 s at 8 KB, minutes at CloudWatch's 256 KB event size). Now a bounded look-around."""
    line = "2024-05-01T10:00:03.004Z " + "a" * 256_000 + " 6b2a7c1e-3d4f-4a5b-8c6d-7e8f9a0b1c2d Task timed out after 3.00 seconds"
    p = parse_message(line)
    assert p.kind == "timeout" and p.request_id == "6b2a7c1e-3d4f-4a5b-8c6d-7e8f9a0b1c2d"
    assert parse_message("2" + "x Task timed out after " * 20_000).kind == "log"
    assert parse_message("2024-05-01T10:00:03.004Z r-123456789 Task timed out after 1.2.3 seconds").platform.timeout_s is None
