"""Compressed records, end to end: the forwarder → Kinesis on moto's server → ``coldtrace run
--streaming``. gzip records (the default), plain records (``COLDTRACE_COMPRESS=false``, and every
record written before compression was the default) and a stream holding both must index the same
documents."""

from __future__ import annotations

import io
import time
from pathlib import Path
from types import SimpleNamespace

import boto3
import orjson
import pytest

import forwarder.handler as handler_module
from forwarder.handler import Forwarder
from forwarder.settings import Settings
from pipeline.cli import main
from pipeline.local_index import index_path, read_index
from pipeline.model import INDEX_DEADLETTER, INDEX_INVOCATIONS, INDEX_LOGS
from pipeline.sources.simulate import FleetConfig, encode_payload, simulate

REGION = "eu-west-1"
ARRIVAL_S = time.time()   # one arrival time for every handling, so the documents can be compared whole


class Context:
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:coldtrace-forwarder"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture(scope="module")
def fleet():
    payloads, truth = simulate(FleetConfig(seed=43, functions=4, minutes=2, invocations_per_minute=20, files=1,
                                           start_ms=int(ARRIVAL_S * 1000) - 4 * 60_000, duplicate_payload_rate=0.0))
    return [p for p in payloads if p["messageType"] == "DATA_MESSAGE"], truth


def forward(endpoint: str, stream: str, payloads: list[dict], compress: bool) -> list[dict]:
    fwd = Forwarder(Settings.from_env({"COLDTRACE_STREAM": stream, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": endpoint,
                                       "COLDTRACE_METRICS": "false", "COLDTRACE_COMPRESS": str(compress).lower()}),
                    out=io.BytesIO())
    for p in payloads:
        fwd.handle({"awslogs": {"data": encode_payload(p)}}, Context())
        assert fwd.last_stats.balanced and fwd.last_stats.events_failed == 0
    return fwd


def records(endpoint: str, stream: str) -> list[bytes]:
    kinesis = boto3.client("kinesis", region_name=REGION, endpoint_url=endpoint)
    out = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        out.extend(r["Data"] for r in kinesis.get_records(ShardIterator=it, Limit=10_000)["Records"])
    return out


def indexed(endpoint: str, stream: str, out: Path) -> dict[str, list[bytes]]:
    """Every document the streaming pipeline indexes from the stream, per index, in a canonical order."""
    assert main(["run", "-q", "--streaming", "--input", f"kinesis://{stream}", "--start-position", "trim_horizon",
                 "--endpoint-url", endpoint, "--region", REGION, "--until-caught-up", "--drain", "--poll", "0.1",
                 "--out", str(out)]) == 0
    got = {}
    for index in (INDEX_LOGS, INDEX_INVOCATIONS, INDEX_DEADLETTER):
        path = index_path(str(out), index)
        docs = [d for _, d in read_index(path)] if Path(path).exists() else []
        got[index] = sorted(orjson.dumps(d, option=orjson.OPT_SORT_KEYS) for d in docs)
    return got


def test_gzip_plain_and_mixed_streams_index_the_same_documents(moto_kinesis, fleet, tmp_path, monkeypatch):
    payloads, truth = fleet
    monkeypatch.setattr(handler_module, "time", SimpleNamespace(time=lambda: ARRIVAL_S, perf_counter=time.perf_counter))
    kinesis = boto3.client("kinesis", region_name=REGION, endpoint_url=moto_kinesis)
    for name in ("plain", "gz", "mixed"):
        kinesis.create_stream(StreamName=name, ShardCount=2)
    plain = forward(moto_kinesis, "plain", payloads, compress=False)
    gz = forward(moto_kinesis, "gz", payloads, compress=True)
    half = len(payloads) // 2     # an upgrade mid-stream: old plain records, then gzip ones
    forward(moto_kinesis, "mixed", payloads[:half], compress=False)
    forward(moto_kinesis, "mixed", payloads[half:], compress=True)

    assert all(r[:2] == b"\x1f\x8b" for r in records(moto_kinesis, "gz"))
    assert not any(r[:2] == b"\x1f\x8b" for r in records(moto_kinesis, "plain"))
    assert gz.last_stats.events_shipped == plain.last_stats.events_shipped
    gz_bytes = sum(len(r) for r in records(moto_kinesis, "gz"))
    plain_bytes = sum(len(r) for r in records(moto_kinesis, "plain"))
    assert gz_bytes * 4 < plain_bytes, (gz_bytes, plain_bytes)

    want = indexed(moto_kinesis, "plain", tmp_path / "plain")
    assert len(want[INDEX_LOGS]) == truth["events"] and want[INDEX_DEADLETTER] == []
    assert len(want[INDEX_INVOCATIONS]) == len(truth["invocations"])
    assert indexed(moto_kinesis, "gz", tmp_path / "gz") == want
    assert indexed(moto_kinesis, "mixed", tmp_path / "mixed") == want
