"""The native Kinesis reader against moto's server: throttling, checkpoints, start positions.

Records are written in the forwarder's format (NDJSON of ``LogEvent.to_record()``), one record
per ten lines, partition key = log group + stream, as ``forwarder.records.encode`` does.
"""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.config import Config

from pipeline.sources.kinesis import KinesisRestriction, KinesisTracker
from pipeline.sources.kinesis_reader import ArrivalWatermark, ShardsLoop
from pipeline.sources.kinesis_shards import Backoff, Cursor, StartPosition, initial_cursors, list_shards
from tests.integration import kinesis_lines
from tests.integration.fault_proxy import FaultProxy

REGION = "eu-west-1"


def client(endpoint: str):
    """As the reader makes them: botocore does not retry (the reader backs off, and counts)."""
    return boto3.client("kinesis", region_name=REGION, endpoint_url=endpoint,
                        config=Config(retries={"total_max_attempts": 1}))


def put_lines(endpoint: str, streams: int, lines: int, tag: str = "a") -> list[str]:
    """``lines`` log lines on each of ``streams`` log streams; returns their event ids."""
    return kinesis_lines.put_lines(client(endpoint), streams, lines, tag)[0]


def read_all(endpoint: str, cursors, claim=None, bounded=True, **kw) -> tuple[list[str], ShardsLoop]:
    k = client(endpoint)
    loop = ShardsLoop(k, "s", list(cursors), claim or (lambda kind, sid, value: True), bounded=bounded,
                      watermark=ArrivalWatermark(0), list_shards=lambda: list_shards(k, "s"), **kw)
    ids = [ev.id for step in loop.run() for batch in step.decoded.batches for ev in batch]
    return ids, loop


@pytest.fixture()
def stream(moto_kinesis):
    client(moto_kinesis).create_stream(StreamName="s", ShardCount=2)
    return moto_kinesis


def test_throttled_and_expired_reads_are_retried_without_loss_or_repeats(stream):
    ids = put_lines(stream, streams=6, lines=40)
    faults = {2: "ProvisionedThroughputExceededException", 3: "ProvisionedThroughputExceededException",
              5: "ExpiredIteratorException", 7: "ProvisionedThroughputExceededException"}
    with FaultProxy(stream, lambda op, n: faults.get(n) if op == "GetRecords" else None) as proxy:
        k = client(proxy.url)
        cursors = initial_cursors(list_shards(k, "s"), StartPosition("TRIM_HORIZON"))
        loop = ShardsLoop(k, "s", cursors, lambda *_: True, bounded=True, watermark=ArrivalWatermark(0),
                          list_shards=lambda: list_shards(k, "s"), limit=7)
        steps = list(loop.run())
        assert proxy.faults["ProvisionedThroughputExceededException"] == 3
        assert proxy.faults["ExpiredIteratorException"] == 1
    got = [ev.id for step in steps for batch in step.decoded.batches for ev in batch]
    assert sorted(got) == sorted(ids)                # nothing lost, nothing twice
    assert sum(step.throttled for step in steps) == 3


def test_a_checkpoint_resumes_after_the_last_claimed_sequence_number(stream):
    """What a runner's checkpoint does: split the tracker's restriction mid-read, then resume the
    residual in a new call — every record once across the two."""
    ids = put_lines(stream, streams=4, lines=50)
    k = client(stream)
    tracker = KinesisTracker(KinesisRestriction(tuple(initial_cursors(list_shards(k, "s"),
                                                                      StartPosition("TRIM_HORIZON")))))
    claims = {"n": 0}
    residual = []

    def claim(kind, sid, value):
        if kind == "record":
            claims["n"] += 1
            if claims["n"] == 7:                      # the runner checkpoints here
                residual.append(tracker.try_split(0)[1])
        return tracker.try_claim((kind, sid, value))

    first, _ = read_all(stream, tracker.current_restriction().cursors, claim, limit=5)
    tracker.check_done()
    assert len(first) < len(ids) and residual and residual[0].cursors
    assert all(c.after is not None or c.start.kind == "TRIM_HORIZON" for c in residual[0].cursors)
    second_tracker = KinesisTracker(residual[0])
    second, _ = read_all(stream, residual[0].cursors,
                         lambda kind, sid, value: second_tracker.try_claim((kind, sid, value)))
    assert sorted(first + second) == sorted(ids)


def test_at_timestamp_reads_only_what_arrived_since(stream):
    put_lines(stream, streams=3, lines=20, tag="old")
    time.sleep(1.2)
    since = int(time.time() * 1000)
    time.sleep(0.1)
    new = put_lines(stream, streams=3, lines=20, tag="new")
    k = client(stream)
    got, _ = read_all(stream, initial_cursors(list_shards(k, "s"), StartPosition("AT_TIMESTAMP", since)))
    assert sorted(got) == sorted(new)


def test_unbounded_reads_rest_at_the_tip_and_hand_back_the_rest(stream):
    ids = put_lines(stream, streams=4, lines=30)
    k = client(stream)
    cursors = initial_cursors(list_shards(k, "s"), StartPosition("TRIM_HORIZON"))
    got, loop = read_all(stream, cursors, bounded=False, max_read_s=5.0, idle_poll_s=30.0)
    assert sorted(got) == sorted(ids)
    assert loop.remaining and loop.caught_up           # every shard at its tip: defer, resume later
    assert loop.watermark.advance() is not None
    again, _ = read_all(stream, [r.cursor for r in loop.readers.values()], bounded=True)
    assert again == []                                 # the cursors are after the last record


def test_backoff_gives_up_after_its_attempts_with_the_error(stream):
    with FaultProxy(stream, lambda op, n: "ProvisionedThroughputExceededException" if op == "GetRecords" else None) as proxy:
        k = client(proxy.url)
        loop = ShardsLoop(k, "s", [Cursor("shardId-000000000000", start=StartPosition("TRIM_HORIZON"))],
                          lambda *_: True, bounded=True, watermark=ArrivalWatermark(0),
                          list_shards=lambda: list_shards(k, "s"), sleep=lambda s: None)
        loop.readers["shardId-000000000000"].backoff = Backoff(max_attempts=3)
        with pytest.raises(Exception, match="ProvisionedThroughputExceeded"):
            list(loop.run())
        assert proxy.calls["GetRecords"] == 3
