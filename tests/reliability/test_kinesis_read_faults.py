"""The native Kinesis reader under transient faults: a proxy in front of moto's server breaks
GetRecords and GetShardIterator each way — HTTP 500, HTTP 503, a reset connection, a timeout
(the answer lost after moto served the call), an expired iterator, throttling — and the reader
must read every record once: 0 lost, 0 duplicated. A fault that does not go away ends the read
with one error naming the shard and the last fault.

Each case prints a row of the read-fault table (at the end of the module, and written beside the
suite's table as ``kinesis-read-faults.md``). Backoffs are shortened (5–50 ms) to keep it quick;
the schedule itself is tested in tests/unit/test_aws_retry.py.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from pipeline.sources.aws_retry import Backoff, RetriesExhausted
from pipeline.sources.kinesis_reader import ArrivalWatermark, ShardsLoop
from pipeline.sources.kinesis_shards import StartPosition, initial_cursors, list_shards
from tests.integration import kinesis_lines
from tests.integration.fault_proxy import FaultProxy
from tests.reliability.support import REGION, table_path

SHORT = dict(base_ms=5, cap_ms=50, max_attempts=8, budget_s=30)
FAULTS = ("http-500", "http-503", "reset", "timeout", "ExpiredIteratorException",
          "ProvisionedThroughputExceededException")
CASES = [("GetRecords", f) for f in FAULTS] + [("GetShardIterator", f) for f in FAULTS
                                                if f != "ExpiredIteratorException"]
# Which calls of the operation fail: GetRecords mid-read (twice in a row, then once more), every
# shard's first GetShardIterator, and a renewal's.
FAILING = {"GetRecords": {2, 3, 6}, "GetShardIterator": {1, 2, 3}}
READ_TIMEOUT_S, STALL_S = 2.0, 2.5


@dataclass
class ReadRow:
    operation: str
    fault: str
    injected: int
    retried: int
    records_in: int
    events_in: int
    events_read: int
    lost: int
    duplicated: int
    seconds: float


ROWS: list[ReadRow] = []


def client(endpoint: str):
    """As the reader makes them (botocore's retries off), with a read timeout the stalled call
    (``STALL_S``) passes and moto's slowest answer on a loaded machine does not: at 0.5 s a slow
    answer was a fault nobody injected, retried once more than planned."""
    return boto3.client("kinesis", region_name=REGION, endpoint_url=endpoint,
                        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=READ_TIMEOUT_S))


def put_lines(endpoint: str, streams: int = 6, lines: int = 30) -> tuple[list[str], int]:
    """Log lines in the forwarder's record format, ten lines a record; (event ids, records)."""
    return kinesis_lines.put_lines(client(endpoint), streams, lines)


def read_through(url: str, backoff: Backoff) -> tuple[list[str], ShardsLoop]:
    k = client(url)
    cursors = initial_cursors(list_shards(k, "s", backoff), StartPosition("TRIM_HORIZON"))
    loop = ShardsLoop(k, "s", cursors, lambda *_: True, bounded=True, watermark=ArrivalWatermark(0),
                      list_shards=lambda: list_shards(k, "s", backoff), limit=3, backoff=backoff)
    return [ev.id for step in loop.run() for batch in step.decoded.batches for ev in batch], loop


@pytest.fixture(scope="module")
def fault_table(request):
    yield ROWS
    if not ROWS:
        return
    head = ("operation", "fault", "injected", "retried", "records in", "events in", "events read", "lost",
            "duplicated", "s")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(v) if not isinstance(v, float) else f"{v:.1f}" for v in vars(r).values()) + " |"
              for r in ROWS]
    path = table_path(Path(str(request.config.rootpath))).with_name("kinesis-read-faults.md")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# Kinesis reader under injected faults\n\n" + "\n".join(lines) + "\n")
    except OSError:
        pass
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():   # printed, not captured as teardown output
            reporter.write_line("")
            reporter.write_line(f"Kinesis reader under injected faults (written to {path}):")
            for line in lines:
                reporter.write_line(line)


@pytest.fixture()
def stream(moto_kinesis):
    client(moto_kinesis).create_stream(StreamName="s", ShardCount=2)
    return moto_kinesis


@pytest.mark.parametrize("operation, fault", CASES, ids=[f"{o}-{f}" for o, f in CASES])
def test_a_transient_fault_loses_nothing_and_repeats_nothing(stream, operation, fault, fault_table):
    ids, records = put_lines(stream)
    started = time.monotonic()
    failing = FAILING[operation]
    with FaultProxy(stream, lambda op, n: fault if op == operation and n in failing else None, stall_s=STALL_S) as proxy:
        got, loop = read_through(proxy.url, Backoff(**SHORT))
    seen = Counter(got)
    row = ReadRow(operation, fault, proxy.faults[fault], sum(loop.faults.values()), records, len(ids), len(seen),
                  len(set(ids) - set(seen)), sum(n - 1 for n in seen.values() if n > 1), time.monotonic() - started)
    ROWS.append(row)
    assert row.injected == len(failing)                     # every planned fault was met…
    assert row.retried == row.injected                      # …and retried by the reader, none by botocore
    assert not set(seen) - set(ids)
    assert row.lost == 0 and row.duplicated == 0
    if fault == "ExpiredIteratorException":                 # renewed after the last record read
        assert proxy.iterator_types.count("AFTER_SEQUENCE_NUMBER") >= 1
        assert loop.faults == {"expired_iterator": 3}


def test_a_fault_that_does_not_go_away_ends_the_read_with_one_clear_error(stream):
    put_lines(stream, streams=1, lines=10)
    with FaultProxy(stream, lambda op, n: "http-503" if op == "GetRecords" else None) as proxy:
        with pytest.raises(RetriesExhausted) as info:
            read_through(proxy.url, Backoff(base_ms=1, cap_ms=5, max_attempts=4))
    message = str(info.value)
    assert message.startswith("Kinesis shard shardId-00000000000") and "of stream s: gave up after 4 attempt(s)" in message
    assert message.endswith("last error: ServiceUnavailable: injected by the test proxy")
    assert "\n" not in message and proxy.calls["GetRecords"] == 4
