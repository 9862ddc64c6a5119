"""The forwarder's pure parts: settings, decoding of event sources, filters, redaction, records."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
import subprocess
import sys
import tracemalloc
import zlib

import orjson
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import forwarder.records as records_module
from forwarder import decode
from forwarder.decode import open_payload, split_gzip, units_of
from forwarder.filters import Rules, sampled_in, select
from forwarder.handler import Forwarder
from forwarder.metrics import Stats, emf
from forwarder.records import Packer, encode, lines_of, partition_key
from forwarder.redact import BUILTIN_NAMES, Redactor
from forwarder.settings import Settings, SettingsError
from forwarder.ship import NullShipper
from pipeline.model import LogEvent
from pipeline.parse.awslogs import PayloadError
from pipeline.sources.formats import read_stream
from tests.conftest import ROOT

GROUP, STREAM = "/aws/lambda/orders", "2024/05/01/[7]0225597e48f74a659916f0e482df5b92"
RID_OK, RID_BAD = "6b2a7c1e-3d4f-4a5b-8c6d-7e8f9a0b1c2d", "9c8b7a6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"


def ev(n: int, message: str) -> LogEvent:
    return LogEvent(id=f"{n:056d}", timestamp=1714557600000 + n, message=message, log_group=GROUP,
                    log_stream=STREAM, account="123456789012", region="eu-west-1", function_name="orders",
                    function_version="7", instance_id="0225597e48f74a659916f0e482df5b92", arrival_ms=1714557601000)


def invocation(rid: str, status: str | None, app_lines: int, base: int) -> list[LogEvent]:
    lines = [f"START RequestId: {rid} Version: 7\n"]
    lines += [f"[INFO]\t2024-05-01T10:00:00.{i:03d}Z\t{rid}\tstep {i}\n" for i in range(app_lines)]
    lines.append(f"[WARNING]\t2024-05-01T10:00:00.900Z\t{rid}\tslow downstream\n")
    lines.append(f"END RequestId: {rid}\n")
    tail = f"\tStatus: {status}\tError Type: Runtime.ExitError" if status else ""
    lines.append(f"REPORT RequestId: {rid}\tDuration: 10.00 ms\tBilled Duration: 10 ms\tMemory Size: 128 MB\t"
                 f"Max Memory Used: 60 MB{tail}\t\n")
    return [ev(base + i, m) for i, m in enumerate(lines)]


# --- settings ---------------------------------------------------------------------------------

def test_settings_defaults_and_validation_name_the_variable():
    s = Settings.from_env({"COLDTRACE_STREAM": "ingress", "AWS_REGION": "eu-west-1"})
    assert (s.shipper, s.stream, s.region, s.sample_rate, s.redact_builtins) == (
        "kinesis", "ingress", "eu-west-1", 1.0, BUILTIN_NAMES)
    bad = [({}, "COLDTRACE_STREAM"),
           ({"COLDTRACE_SHIPPER": "kafka"}, "COLDTRACE_SHIPPER"),
           ({"COLDTRACE_SHIPPER": "null", "COLDTRACE_SAMPLE_RATE": "2"}, "COLDTRACE_SAMPLE_RATE"),
           ({"COLDTRACE_SHIPPER": "null", "COLDTRACE_INCLUDE": "(unclosed"}, "COLDTRACE_INCLUDE"),
           ({"COLDTRACE_SHIPPER": "null", "COLDTRACE_DROP_START_END": "maybe"}, "COLDTRACE_DROP_START_END"),
           ({"COLDTRACE_SHIPPER": "null", "COLDTRACE_REDACT": "email,ssn"}, "COLDTRACE_REDACT"),
           ({"COLDTRACE_SHIPPER": "null", "COLDTRACE_REDACT_PATTERNS": '{"x": "["}'}, "COLDTRACE_REDACT_PATTERNS"),
           ({"COLDTRACE_SHIPPER": "null", "COLDTRACE_REDACT_KEY": "hunter2"}, "COLDTRACE_REDACT_KEY"),
           ({"COLDTRACE_SHIPPER": "null", "COLDTRACE_DLQ_URL": "my-queue"}, "COLDTRACE_DLQ_URL"),
           ({"COLDTRACE_SHIPPER": "spool"}, "COLDTRACE_SPOOL_DIR"),
           ({"COLDTRACE_SHIPPER": "null", "COLDTRACE_ACCOUNT_ID": "12"}, "COLDTRACE_ACCOUNT_ID")]
    for env, name in bad:
        with pytest.raises(SettingsError, match=name):
            Settings.from_env(env)
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"COLDTRACE_SHIPPER": "null", "COLDTRACE_REDACT_KEY": "hunter2"})
    assert "hunter2" not in str(err.value)  # a secret put in plain env is never echoed


# --- event sources ------------------------------------------------------------------------------

def _data(obj: dict) -> str:
    return base64.b64encode(gzip.compress(orjson.dumps(obj))).decode()


def _whole(unit) -> dict:
    """A unit's payload put back together from its header and windows."""
    header, windows = open_payload(unit)
    return dict(header, logEvents=[e for w in windows for e in w])


def test_event_sources_become_units_with_their_item_ids():
    obj = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": GROUP, "logStream": STREAM,
           "logEvents": [{"id": "1", "timestamp": 1, "message": "hi"}]}
    source, units = units_of({"awslogs": {"data": _data(obj)}})
    assert source == "subscription" and _whole(units[0]) == obj and units[0].item_id is None
    source, units = units_of({"Records": [{"eventSource": "aws:kinesis", "kinesis": {"sequenceNumber": "42",
                                                                                   "data": _data(obj)}}]})
    assert source == "kinesis" and units[0].item_id == "42" and _whole(units[0]) == obj
    dlq_body = orjson.dumps({"awslogs": {"data": _data(obj)}, "coldtrace": {"event_ids": ["1"]}}).decode()
    source, units = units_of({"Records": [{"eventSource": "aws:sqs", "messageId": "m", "body": dlq_body},
                                          {"eventSource": "aws:sqs", "messageId": "n", "body": "%%%"}]})
    assert source == "sqs" and units[0].only_ids == frozenset({"1"}) and _whole(units[0]) == obj
    assert units[1].item_id == "n" and "base64" in units[1].error
    _, units = units_of({"httpMethod": "GET"})
    assert "unrecognised event" in units[0].error and '"httpMethod"' in units[0].original


# --- filters and sampling ------------------------------------------------------------------------

def test_sampling_never_drops_errors_warnings_platform_lines_or_failed_requests():
    events = invocation(RID_OK, None, 40, 0) + invocation(RID_BAD, "error", 40, 1000)
    chosen = select(events, Rules(sample_rate=0.0))
    kept = {e.message for e in chosen.kept}
    assert chosen.sampled_out == 40 and len(chosen.kept) == len(events) - 40
    assert all(RID_BAD in e.message for e in chosen.kept if "[INFO]" in e.message)  # the failed request is whole
    assert any(m.startswith("REPORT") and RID_OK in m for m in kept) and any("WARNING" in m for m in kept)
    assert {e.message for e in events if "START" in e.message or "END" in e.message} <= kept


def test_sampling_keeps_or_drops_whole_requests_consistently():
    rids = [f"{n:08x}-0000-4000-8000-000000000000" for n in range(400)]
    events = [ev(n, f"[INFO]\t2024-05-01T10:00:00.000Z\t{rid}\tline {k}\n")
              for n, (rid, k) in enumerate((rid, k) for rid in rids for k in range(3))]
    chosen = select(events, Rules(sample_rate=0.25))
    kept_rids = {e.message.split("\t")[2] for e in chosen.kept}
    assert all(sum(e.message.split("\t")[2] == r for e in chosen.kept) == 3 for r in kept_rids)
    assert 0.15 < len(kept_rids) / len(rids) < 0.35
    assert kept_rids == {r for r in rids if sampled_in(r, 0.25)}    # the same answer in every payload


def test_rules_drop_start_end_and_apply_include_exclude_to_application_lines_only():
    events = invocation(RID_OK, None, 3, 0)
    chosen = select(events, Rules(drop_start_end=True, exclude=re.compile(r"step [12]")))
    messages = [e.message for e in chosen.kept]
    assert not any(m.startswith(("START", "END")) for m in messages)
    assert any(m.startswith("REPORT") for m in messages) and any("step 0" in m for m in messages)
    assert chosen.filtered == 2 + 2
    chosen = select(events, Rules(include=re.compile("nothing matches")))
    assert all(not m.message.startswith("[INFO]") for m in chosen.kept) and chosen.filtered == 3


# --- redaction --------------------------------------------------------------------------------------

SECRETS = [
    ("key AKIAIOSFODNN7EXAMPLE used", "key [REDACTED:aws_access_key] used", "aws_access_key"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "Authorization: Bearer [REDACTED:bearer_token]",
     "bearer_token"),
    ("GET https://admin:hunter2@db.internal/x", "GET https://admin:[REDACTED:url_password]@db.internal/x",
     "url_password"),
    ("mail to jane.doe+x@example.co.uk now", "mail to [REDACTED:email] now", "email"),
    ("card 4111 1111 1111 1111 ok", "card [REDACTED:card_number] ok", "card_number"),
    ("amex 378282246310005.", "amex [REDACTED:card_number].", "card_number"),
]
NOT_SECRETS = ["order 4111111111111112 (fails Luhn)", "request 48149933-4111-1111-1111-111111111111",
               "ts 1714557600000123", "ratio 1.4111111111111111", "AKIAIOSFODNN7EXAMPLEX is too long",
               "bearer of bad news"]


def test_builtin_patterns_redact_secrets_and_spare_lookalikes():
    r = Redactor(BUILTIN_NAMES)
    for text, want, name in SECRETS:
        counts: dict[str, int] = {}
        assert r.redact_text(text, counts) == want and counts == {name: 1}
    for text in NOT_SECRETS:
        assert r.redact_text(text) == text


def test_batch_redaction_equals_line_by_line_and_counts_per_pattern():
    r = Redactor(BUILTIN_NAMES, [("order_id", re.compile(r"^ORD-\d+"))], key=b"k")
    texts = [t for t, _, _ in SECRETS] + NOT_SECRETS + ["ORD-1234 shipped", "plain line", "x ORD-99 not at start"]
    events = [ev(i, t) for i, t in enumerate(texts)]
    counts = r.redact_events(events)
    assert [e.message for e in events] == [r.redact_text(t) for t in texts]
    assert counts == {"aws_access_key": 1, "bearer_token": 1, "url_password": 1, "email": 1, "card_number": 2,
                      "order_id": 1}
    assert events[-3].message.startswith("[REDACTED:order_id:") and "ORD-99" in events[-1].message
    tag = r.tag("email", "jane.doe+x@example.co.uk")
    assert tag in events[3].message and tag == r.tag("email", "jane.doe+x@example.co.uk")  # stable, keyed


@hsettings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("ab @.:/-14 AKIAS7\n\u00e9\U0001F680"), max_size=40), max_size=12))
def test_batch_redaction_never_differs_from_line_by_line(texts):
    r = Redactor(BUILTIN_NAMES)
    events = [ev(i, t) for i, t in enumerate(texts)]
    r.redact_events(events)
    assert [e.message for e in events] == [r.redact_text(t) for t in texts]


# --- records ------------------------------------------------------------------------------------

def test_records_are_to_record_lines_in_order_within_the_size_limit():
    events = [ev(n, f"line {n} " + "x" * (n % 300) + " \u00fc\U0001F680\n") for n in range(2000)]
    records = encode(events, 0, max_bytes=20_000)
    assert len(records) > 1 and all(r.size <= 20_000 and r.error is None for r in records)
    assert {r.key for r in records} == {partition_key(GROUP, STREAM)} == {f"{GROUP}|{STREAM}"}
    lines = b"".join(r.data for r in records).splitlines(keepends=True)
    assert lines == [orjson.dumps(e.to_record(), option=orjson.OPT_APPEND_NEWLINE) for e in events]
    assert [i for r in records for i in r.ids] == [e.id for e in events]


def test_oversized_lines_are_flagged_and_gzip_records_stay_under_the_limit():
    events = [ev(0, "small"), ev(1, "\x00" * 5000), ev(2, "also small")]   # \u0000 escapes to 6 bytes each
    records = encode(events, 3, max_bytes=8_000)
    assert [r.ids for r in records if r.error] == [[events[1].id]] and "record limit" in records[1].error
    assert sum(len(r.ids) for r in records) == 3
    many = [ev(n, f"msg {n} {n * 7919 % 10007}") for n in range(5000)]
    gz = encode(many, 0, max_bytes=10_000, compress=True)
    assert all(r.size <= 10_000 for r in gz)
    assert zlib.decompress(b"".join(r.data for r in gz), 47).count(b"\n") < 5000  # first member only
    assert gzip.decompress(b"".join(r.data for r in gz)).count(b"\n") == 5000     # all members


@pytest.mark.parametrize("compress", [False, True])
def test_records_read_back_through_the_pipeline_spool_reader(compress):
    """Plain or gzip (members concatenated, as a spool file or a Kinesis record holds them)."""
    events = [ev(98, "a long first line " * 300)] + invocation(RID_OK, None, 5, 0) + [ev(99, "x")]
    other = LogEvent(id="o1", timestamp=5, message="other stream", log_group="/aws/lambda/b",
                     log_stream="2024/05/01/[$LATEST]abc")
    records = encode(events + [other], 0, max_bytes=2000 if compress else None, compress=compress)
    assert all((r.data[:2] == b"\x1f\x8b") == compress for r in records) and len(records) >= 2
    data = b"".join(r.data for r in records)
    got = [e for batch in read_stream(io.BytesIO(data), "spool") for e in batch]
    assert sorted(e.to_record().items() for e in got if e.id != "o1") == sorted(e.to_record().items() for e in events)
    assert {e.doc_id() for e in got} == {e.doc_id() for e in events + [other]}
    assert next(e for e in got if e.id == "o1").function_name == "b"


# --- metrics and the handler's ledger -------------------------------------------------------------

def test_emf_line_declares_every_metric_it_carries():
    s = Stats(events_in=5, events_shipped=4, events_filtered=1, oldest_event_ms=1000, redacted={"email": 2})
    doc = orjson.loads(emf(s, "Coldtrace/Forwarder", "fwd", now_ms=4000))
    names = [m["Name"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert all(n in doc for n in names) and doc["IteratorAge"] == 3000 and doc["Redactions"] == 2
    assert doc["FunctionName"] == "fwd" and s.balanced


def test_handler_ledger_balances_with_filters_and_loop_guard():
    env = {"COLDTRACE_SHIPPER": "null", "COLDTRACE_SAMPLE_RATE": "0.5", "COLDTRACE_DROP_START_END": "true",
           "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/coldtrace-forwarder"}
    out = io.BytesIO()
    fwd = Forwarder(Settings.from_env(env), shipper=NullShipper(), out=out)
    events = invocation(RID_OK, None, 30, 0) + invocation(RID_BAD, "timeout", 30, 100)
    payload = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": GROUP, "logStream": STREAM,
               "logEvents": [{"id": e.id, "timestamp": e.timestamp, "message": e.message} for e in events]}
    own = dict(payload, logGroup="/aws/lambda/coldtrace-forwarder")
    fwd.handle({"Records": [{"eventSource": "aws:sqs", "messageId": "a", "body": orjson.dumps(
        {"awslogs": {"data": _data(payload)}}).decode()}, {"eventSource": "aws:sqs", "messageId": "b",
                                                           "body": _data(own)}]}, None)
    s = fwd.last_stats
    assert s.balanced and s.events_in == 2 * len(events) and s.events_loop_dropped == len(events)
    assert s.events_filtered == 4 and s.events_sampled_out > 0 and s.events_shipped > 30
    assert orjson.loads(out.getvalue().splitlines()[-1])["EventsIn"] == s.events_in


# --- import weight --------------------------------------------------------------------------------

def test_importing_the_handler_loads_neither_beam_nor_boto3():
    code = ("import sys, forwarder.handler; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('apache_beam', 'boto3', 'botocore')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert "import" not in (ROOT / "pipeline" / "__init__.py").read_text()  # would drag Beam into the Lambda


# --- payloads a window at a time ----------------------------------------------------------------

_TRICKY = st.lists(st.sampled_from(list('ab {}[],:"\\\n\u00fc\U0001F680') + ['},{"id":', '},{"', '"}]', '\\"']),
                   max_size=40).map("".join)


def _gz_payload(events: list, **extra) -> bytes:
    obj = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": GROUP, "logStream": STREAM,
           "subscriptionFilters": ["coldtrace"], "logEvents": events, **extra}
    return gzip.compress(orjson.dumps(obj), 1)


def _read_windows(raw: bytes) -> dict:
    header, windows = split_gzip(raw)
    return dict(header, logEvents=[e for w in windows for e in w])


@hsettings(max_examples=150, deadline=None)
@given(messages=st.lists(_TRICKY, max_size=30), window=st.sampled_from([1, 16, 64, 4096]))
def test_windows_of_a_payload_are_its_events_whatever_the_messages_hold(messages, window):
    events = [{"id": f"{n:056d}", "timestamp": 1714557600000 + n, "message": m} for n, m in enumerate(messages)]
    raw = _gz_payload(events, policyLevel="ACCOUNT_LEVEL_POLICY")
    saved = decode.WINDOW_BYTES
    decode.WINDOW_BYTES = window   # tiny windows: a boundary after nearly every event
    try:
        got = _read_windows(raw)
    finally:
        decode.WINDOW_BYTES = saved
    whole = orjson.loads(gzip.decompress(raw))
    assert got["logEvents"] == whole["logEvents"]
    assert {k: v for k, v in got.items() if k != "policyLevel"} == {k: v for k, v in whole.items() if k != "policyLevel"}


def test_keys_after_the_events_are_read_too(monkeypatch):
    """moto's subscription deliveries put logEvents first; CloudWatch puts it last."""
    monkeypatch.setattr(decode, "WINDOW_BYTES", 32)
    events = [{"id": str(n), "timestamp": n, "message": f"m{n}"} for n in range(20)]
    obj = {"logEvents": events, "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": GROUP,
           "logStream": STREAM}
    assert _read_windows(gzip.compress(orjson.dumps(obj))) == obj
    late_owner = {"messageType": "DATA_MESSAGE", "logGroup": GROUP, "logStream": STREAM, "logEvents": events,
                  "owner": "123456789012"}
    assert _read_windows(gzip.compress(orjson.dumps(late_owner))) == late_owner


def test_events_holding_objects_fall_back_to_the_whole_document(monkeypatch):
    monkeypatch.setattr(decode, "WINDOW_BYTES", 8)
    nested = [{"id": str(n), "timestamp": n, "message": "m", "extracted": [{"id": "a"}, {"id": "b"}]} for n in range(50)]
    assert _read_windows(_gz_payload(nested))["logEvents"] == nested
    assert _read_windows(_gz_payload([]))["logEvents"] == []


def test_bad_gzip_and_bad_json_past_the_first_window_are_payload_errors(monkeypatch):
    monkeypatch.setattr(decode, "WINDOW_BYTES", 64)
    good = [{"id": str(n), "timestamp": n, "message": "x" * 40} for n in range(40)]
    raw = _gz_payload(good)
    with pytest.raises(PayloadError, match="truncated|not valid gzip"):
        _read_windows(raw[:len(raw) // 2])
    body = orjson.dumps({"messageType": "DATA_MESSAGE", "logGroup": GROUP, "logStream": STREAM, "logEvents": good})
    broken = gzip.compress(body.replace(b'"id":"30"', b'"id":"30",,'))
    header, windows = decode.split_gzip(broken)
    assert header["logGroup"] == GROUP
    with pytest.raises(PayloadError, match="not JSON"):
        list(windows)


@pytest.mark.parametrize("implementation", ["zlib_ng", "zlib"])
def test_packer_records_stay_under_the_limit_as_windows_arrive(implementation, monkeypatch):
    """With zlib-ng, or the stdlib's zlib it falls back to: the same gzip, read by the stdlib."""
    if implementation == "zlib":
        monkeypatch.setattr(records_module, "deflate", zlib)
    else:
        assert records_module.deflate.__name__ == "zlib_ng.zlib_ng"   # a declared dependency: installed

    events = [ev(n, f"[INFO]\t2024-05-01T10:00:00.000Z\t{n * 7919 % 100003:08d}\tstep {n} " + "y" * (n % 700) + "\n")
              for n in range(6000)]
    packer = Packer(partition_key(GROUP, STREAM), 0, 20_000, level=6)
    records = []
    for i in range(0, len(events), 250):
        window = events[i:i + 250]
        records += packer.add(lines_of(window), [e.id for e in window])
    records += packer.close()
    assert len(records) > 3 and all(r.error is None and r.size <= 20_000 for r in records)
    assert min(r.size for r in records[:-1]) > 15_000     # full records, not a window each
    assert gzip.decompress(b"".join(r.data for r in records)) == b"".join(lines_of(events))
    assert [i for r in records for i in r.ids] == [e.id for e in events]
    assert all(gzip.decompress(r.data).count(b"\n") == len(r.ids) for r in records)  # each a whole member


def test_compression_is_the_default_and_its_level_a_setting():
    s = Settings.from_env({"COLDTRACE_SHIPPER": "null"})
    assert s.compress and s.compress_level == 6
    s = Settings.from_env({"COLDTRACE_SHIPPER": "null", "COLDTRACE_COMPRESS": "false", "COLDTRACE_COMPRESS_LEVEL": "1"})
    assert not s.compress and s.compress_level == 1
    with pytest.raises(SettingsError, match="COLDTRACE_COMPRESS_LEVEL"):
        Settings.from_env({"COLDTRACE_SHIPPER": "null", "COLDTRACE_COMPRESS_LEVEL": "12"})


def test_handling_a_full_payload_holds_less_than_the_payload_decoded():
    """Peak Python memory: a window of events and one record, never the payload's lines or tree."""
    events = [{"id": f"{37 * 10 ** 50 + n:056d}", "timestamp": 1714557600000 + n,
               "message": f"[INFO]\t2024-05-01T10:00:00.000Z\t{n % 977:08d}-aaaa-4bbb-8ccc-dddddddddddd\t"
                          f"order {n * 7919 % 100003} shipped to warehouse {n % 13} " + "z" * (n % 200) + "\n"}
              for n in range(22_000)]
    body = orjson.dumps({"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": GROUP,
                         "logStream": STREAM, "subscriptionFilters": ["x"], "logEvents": events})
    event = {"awslogs": {"data": base64.b64encode(gzip.compress(body, 1)).decode()}}
    del events
    fwd = Forwarder(Settings.from_env({"COLDTRACE_SHIPPER": "null", "COLDTRACE_METRICS": "false"}))
    fwd.handle(event, None)
    tracemalloc.start()
    try:
        fwd.handle(event, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    s = fwd.last_stats
    assert s.events_shipped == 22_000 and s.balanced and s.bytes_out < len(body) / 5
    assert peak < len(body) + (1 << 20), f"peak {peak:,} B for a {len(body):,} B payload"


def test_a_payload_invalid_past_its_first_windows_is_reported_whole_and_the_ledger_balances(monkeypatch):
    monkeypatch.setattr(decode, "WINDOW_BYTES", 256)

    good = [{"id": str(n), "timestamp": 1714557600000 + n, "message": hashlib.sha256(b"%d" % n).hexdigest()}
            for n in range(60)]
    body = orjson.dumps({"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": GROUP,
                         "logStream": STREAM, "logEvents": good})
    broken = base64.b64encode(gzip.compress(body.replace(b'"id":"50"', b'"id":"50",,'))).decode()
    fwd = Forwarder(Settings.from_env({"COLDTRACE_SHIPPER": "null", "COLDTRACE_METRICS": "false"}),
                    shipper=NullShipper(compress=True, max_record_bytes=900), out=io.BytesIO())
    result = fwd.handle({"Records": [{"eventSource": "aws:sqs", "messageId": "bad", "body": broken},
                                     {"eventSource": "aws:sqs", "messageId": "ok", "body": _data(
                                         {"messageType": "DATA_MESSAGE", "logGroup": GROUP, "logStream": STREAM,
                                          "logEvents": good[:5]})}]}, None)
    s = fwd.last_stats
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    # the records completed before the bad window were shipped; the rest of what was read is failed
    assert s.balanced and s.events_failed > 0 and s.events_shipped > 5 and s.records_out >= 3
