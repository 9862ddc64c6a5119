"""A corpus of hostile inputs, built here in code, through the whole batch pipeline at once.

Each input either becomes a dead letter whose reason says what is wrong with it, or is indexed
with a visible flag (``aws.lambda.signals``) when the line itself is worth keeping: a REPORT with
impossible numbers keeps its invocation without the numbers (``implausible_report``), a skewed
clock keeps its event and says so (``clock_skew``). Nothing crashes, the ledger balances, and
memory stays bounded — measured in a child process for the 10 MB line and the gzip bombs.
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import orjson
import pytest

from pipeline.local_index import index_path, read_index
from pipeline.model import INDEX_DEADLETTER, INDEX_INVOCATIONS, INDEX_LOGS
from pipeline.parse.awslogs import MAX_DECOMPRESSED
from pipeline.sources.formats import MAX_LINE
from tests.reliability.support import run_pipeline

GROUP = "/aws/lambda/hostile"
STREAM = "2024/05/01/[$LATEST]0123456789abcdef0123456789abcdef"
T0 = 1714557600000
RID = "6b2a7c1e-3d4f-4a5b-8c6d-7e8f9a0b1c2d"


def payload(messages, stream: str = STREAM, timestamps=None, ids=None) -> dict:
    return {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": GROUP, "logStream": stream,
            "subscriptionFilters": ["f"],
            "logEvents": [{"id": (ids or {}).get(i, f"{stream[-6:]}{i:06d}"),
                           "timestamp": (timestamps or {}).get(i, T0 + i), "message": m}
                          for i, m in enumerate(messages)]}


def b64gz(raw: bytes) -> str:
    return base64.b64encode(gzip.compress(raw)).decode()


def line_of(obj: dict) -> bytes:
    return b'{"awslogs":{"data":"' + b64gz(orjson.dumps(obj)).encode() + b'"}}\n'


def stream_of(name: str) -> str:
    return f"2024/05/01/[$LATEST]{name:0>32}"[:52]


def gzip_stream(block: bytes, total: int) -> bytes:
    """gzip of ``block`` repeated to ``total`` bytes, without holding the output."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [c.compress(block) for _ in range(total // len(block))]
    return b"".join(parts) + c.flush()


# name → (file bytes, expected dead-letter reasons (substrings), one per dead letter of that file)
@functools.lru_cache(maxsize=1)
def corpus() -> dict[str, tuple[bytes, list[str]]]:
    good = payload(["[INFO]\t2024-05-01T10:00:00.000Z\tr\tfine\n"], stream=stream_of("good"))
    half = gzip.compress(orjson.dumps(payload(["x" * 500], stream=stream_of("half"))))
    return {
        "truncated-gzip-payload.ndjson": (
            b'{"awslogs":{"data":"' + base64.b64encode(half[: len(half) // 2]) + b'"}}\n',
            ["truncated gzip data"]),
        "truncated-gzip-file.ndjson.gz": (
            gzip.compress(line_of(good) * 50)[:-40], ["cannot read", ]),
        "gzip-bomb-payload.ndjson": (
            b'{"awslogs":{"data":"' + base64.b64encode(gzip.compress(b"\0" * (MAX_DECOMPRESSED + 1024))) + b'"}}\n',
            [f"exceeds the {MAX_DECOMPRESSED} byte cap (gzip bomb?)"]),
        "gzip-bomb-file.ndjson.gz": (gzip_stream(b"\n" * (1 << 20), 200 << 20), ["a gzip bomb, not logs"]),
        "invalid-base64.ndjson": (b"!!!not*base64###\n", ["invalid base64"]),
        "invalid-utf8-payload.ndjson": (
            b'{"awslogs":{"data":"' + b64gz(b'{"messageType":"DATA_MESSAGE","logGroup":"g","logStream":"s",'
                                            b'"logEvents":[{"id":"1","timestamp":1,"message":"\xff\xfe"}]}').encode()
            + b'"}}\n', ["not valid UTF-8"]),
        "invalid-utf8-line.ndjson": (b'{"awslogs": {"data": "\xc3\x28"}}\n', ["not valid UTF-8"]),
        "oversized-line.ndjson": (b"A" * (40 << 20) + b"\n" + line_of(good), [f"exceeds the {MAX_LINE:,} byte cap"]),
        "deeply-nested-payload.ndjson": (b"[" * 100_000 + b"]" * 100_000 + b"\n", ["depth limit exceeded"]),
        "nul-bytes-line.ndjson": (b'{"awslogs":\x00{"data": "x"}}\n', ["line is not JSON"]),
        "wrong-types-event.ndjson": (line_of(payload(["m"], stream=stream_of("wrongtype"),
                                                     timestamps={0: "yesterday"})),
                                     ["logEvents[0] lacks a string message or a numeric timestamp"]),
        "wrong-types-spool.ndjson": (b'{"id": 5, "timestamp": "noon", "message": "m", "log_group": "g", '
                                     b'"log_stream": "s"}\n', ["not a LogEvent record"]),
        "not-a-payload-object.ndjson": (b'{"awslogs": {"data": 42}}\n[1, 2]\n',
                                        ["lacks a string 'data'", "not a subscription payload object"]),
        "bad-export-timestamp-2024-05-01.log": (b"2024-13-45T99:99:99.000Z hello\n",
                                                ["export line has an invalid timestamp"]),
    }


KEPT = {  # inputs that are worth keeping: indexed, flagged
    "ten-mb-line.ndjson": line_of(payload(["[INFO]\t2024-05-01T10:00:00.000Z\tr\t" + "z" * (10 << 20) + "\n"],
                                          stream=stream_of("tenmb"))),
    "nul-and-nesting-in-messages.ndjson": line_of(payload(
        ["null\x00byte\x00inside\n", '{"a":' * 5000 + "1" + "}" * 5000, "\x00" * 100],
        stream=stream_of("nul"))),
    "wrong-types-in-log-records.ndjson": line_of(payload([
        json.dumps({"level": 5, "requestId": [1, 2], "message": {"nested": True}, "timestamp": {},
                    "correlation_id": 7.5, "xray_trace_id": None}),
        json.dumps({"time": "t", "type": "platform.report", "record": {"requestId": RID, "metrics": {
            "durationMs": "fast", "memorySizeMB": [128], "maxMemoryUsedMB": {"x": 1}}}})],
        stream=stream_of("wrongapp"))),
    "absurd-reports.ndjson": line_of(payload([
        f"START RequestId: {RID} Version: $LATEST\n",
        f"REPORT RequestId: {RID}\tDuration: -12.50 ms\tBilled Duration: 1e308 ms\tMemory Size: 999999 MB\t"
        f"Max Memory Used: 64 MB\tInit Duration: nan ms\t\n",
        "START RequestId: r-2 Version: $LATEST\n",
        "REPORT RequestId: r-2\tDuration: 2000000.00 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 64 MB\t\n"], stream=stream_of("absurd"))),
    "clock-skew.ndjson": line_of(payload(["from 1970\n", "from the year 33658\n", "before the epoch\n"],
                                         stream=stream_of("skew"), timestamps={0: 0, 1: 10**15, 2: -5_000})),
}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """The whole corpus in one run: (output directory, the run's Outcome)."""
    src = tmp_path_factory.mktemp("hostile")
    for name, (data, _) in corpus().items():
        (src / name).write_bytes(data)
    for name, data in KEPT.items():
        (src / name).write_bytes(data)
    out = tmp_path_factory.mktemp("hostile-out")
    return out, run_pipeline([str(src / "*")], out)


def docs(out: Path, index: str) -> list[dict]:
    return [doc for _, doc in read_index(index_path(str(out), index))]


def test_nothing_crashes_and_the_ledger_balances(hostile_run):
    _, run = hostile_run
    assert run.ledger.balanced, run.ledger.problems
    assert run.ledger.totals["inputs_dead_lettered"] == sum(len(r) for _, r in corpus().values())


@pytest.mark.parametrize("name", list(corpus()))
def test_each_hostile_input_is_a_dead_letter_with_its_reason(hostile_run, name):
    out, _ = hostile_run
    _, reasons = corpus()[name]
    mine = [d for d in docs(out, INDEX_DEADLETTER) if name in d.get("coldtrace.source", "")]
    assert len(mine) == len(reasons), [d["error.message"] for d in mine]
    for reason in reasons:
        assert any(reason in d["error.message"] for d in mine), (reason, [d["error.message"] for d in mine])
    for d in mine:
        assert len(d["event.original"]) <= 1 << 20  # a dead letter keeps at most 1 MiB of its input


def test_truncated_gzip_file_keeps_what_came_before_the_cut(hostile_run):
    out, _ = hostile_run
    good = [d for d in docs(out, INDEX_LOGS) if d["log.stream"] == stream_of("good")]
    assert len(good) == 1  # 50 copies of one event before the cut: the ledger counted the other 49 as duplicates


def test_a_ten_megabyte_line_is_indexed_whole_as_text(hostile_run):
    out, _ = hostile_run
    (doc,) = [d for d in docs(out, INDEX_LOGS) if d["log.stream"] == stream_of("tenmb")]
    assert len(doc["message"]) > 10 << 20 and doc["aws.lambda.log_kind"] == "log"


def test_nul_bytes_and_deep_nesting_inside_messages_are_kept_as_text(hostile_run):
    out, _ = hostile_run
    got = sorted(d["message"] for d in docs(out, INDEX_LOGS) if d["log.stream"] == stream_of("nul"))
    assert "null\x00byte\x00inside" in got and "\x00" * 100 in got
    assert any(m.startswith('{"a":{"a":') and m.endswith("}}") for m in got)  # 5,000 levels: text, not decoded


def test_wrong_types_in_log_records_leave_fields_unknown_not_invented(hostile_run):
    out, _ = hostile_run
    app, report = sorted((d for d in docs(out, INDEX_LOGS) if d["log.stream"] == stream_of("wrongapp")),
                         key=lambda d: d["event.id"])
    assert "faas.execution" not in app and "labels.correlation_id" not in app
    assert report["aws.lambda.log_kind"] == "report" and report["faas.execution"] == RID


def test_absurd_report_numbers_are_dropped_and_flagged(hostile_run):
    out, _ = hostile_run
    invs = {d["faas.execution"]: d for d in docs(out, INDEX_INVOCATIONS) if d["log.stream"] == stream_of("absurd")}
    first, second = invs[RID], invs["r-2"]
    for inv in (first, second):
        assert "implausible_report" in inv["aws.lambda.signals"]
    assert "aws.lambda.duration_ms" not in first and "aws.lambda.billed_duration_ms" not in first
    assert "aws.lambda.memory_size_mb" not in first and "aws.lambda.init_duration_ms" not in first
    assert first["aws.lambda.max_memory_used_mb"] == 64            # the plausible number stays
    assert "aws.lambda.duration_ms" not in second and second["aws.lambda.billed_duration_ms"] == 3
    reports = [d for d in docs(out, INDEX_LOGS) if d["log.stream"] == stream_of("absurd")
               and d["aws.lambda.log_kind"] == "report"]
    assert all("implausible_report" in d["aws.lambda.signals"] and "-12.50 ms" in d["message"] or
               "2000000.00" in d["message"] for d in reports)  # the raw line keeps what was claimed


def test_clock_skew_is_flagged_and_the_timestamp_stays_a_valid_date(hostile_run):
    out, _ = hostile_run
    got = {d["message"]: d for d in docs(out, INDEX_LOGS) if d["log.stream"] == stream_of("skew")}
    assert len(got) == 3 and all("clock_skew" in d["aws.lambda.signals"] for d in got.values())
    assert got["from the year 33658"]["@timestamp"] == "9999-12-31T23:59:59.999Z"
    assert got["before the epoch"]["@timestamp"] == "1970-01-01T00:00:00.000Z"


# -- memory: peak RSS growth of a child process reading one hostile file -------------------------------
MEASURE = textwrap.dedent("""
    import io, resource, sys
    from pipeline.model import DeadLetter
    from pipeline.parse import parse_event
    from pipeline.sources.formats import read_stream

    def rss_mb():
        # Peak RSS of this process image. getrusage's ru_maxrss survives execve on Linux (a child
        # of a big pytest process starts at its parent's peak), so /proc's VmHWM comes first.
        try:
            with open("/proc/self/status") as f:
                return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
        except (OSError, StopIteration):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    base = rss_mb()
    items = events = 0
    with open(sys.argv[1], "rb") as f:
        for item in read_stream(f, sys.argv[1]):
            items += 1
            if not isinstance(item, DeadLetter):
                for ev in item:
                    parse_event(ev).to_doc()
                    events += 1
            del item
    print(f"{rss_mb() - base:.1f} {events} {items}")
""")


@pytest.mark.parametrize("name,cap_mb", [
    ("ten-mb-line.ndjson", 100),             # one 10 MB message: the line, its decode, its document
    ("gzip-bomb-payload.ndjson", 100),       # inflated 1 MiB at a time up to the 64 MiB cap, then refused
    ("gzip-bomb-file.ndjson.gz", 64),        # 200 MiB of newlines from 0.2 MB: refused at 8 MiB inflated
    ("oversized-line.ndjson", 64),           # a 40 MiB line: held up to the 16 MiB cap, the rest skipped
])
def test_memory_stays_bounded(tmp_path, name, cap_mb):
    data = KEPT[name] if name in KEPT else corpus()[name][0]
    path = tmp_path / name
    path.write_bytes(data)
    del data
    res = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    growth_mb, events, items = res.stdout.split()
    print(f"peak RSS growth reading {name} ({path.stat().st_size / 1e6:.1f} MB on disk): {growth_mb} MB")
    assert float(growth_mb) < cap_mb and int(items) >= 1
