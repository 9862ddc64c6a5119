"""The streaming pipeline on a Kinesis stream, end to end, against moto's server on 127.0.0.1.

The forwarder's handler ships a simulated fleet into a two-shard stream while the local
streaming loop (catch-up reads on FnApiRunner: see test_local_runners_and_sdf.py for why no
local runner runs an endless source) reads it in the background; one shard is split and its
children merged again mid-run. The loop must read every record the forwarder put, build every
invocation of the fleet exactly once, and move its watermark forward.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import boto3
import pytest

import forwarder.handler as handler_module
from pipeline.local_index import index_path, latest_docs, read_index
from pipeline.model import INDEX_DEADLETTER, INDEX_INVOCATIONS, INDEX_LOGS, INDEX_METRICS
from pipeline.run import RunConfig
from pipeline.sources.kinesis_shards import StartPosition
from pipeline.sources.simulate import FleetConfig, encode_payload, simulate
from pipeline.streaming.catchup import CatchUp
from pipeline.streaming.config import StreamConfig

REGION = "eu-west-1"
ACCOUNT = "123456789012"
STREAM = "ingress"


class Context:
    function_name = "coldtrace-forwarder"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:coldtrace-forwarder"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture(scope="module")
def fleet():
    """A small fleet that logged over the last few minutes (event time close to arrival time)."""
    start = int(time.time() * 1000) - 5 * 60_000
    payloads, truth = simulate(FleetConfig(seed=23, functions=6, minutes=3, invocations_per_minute=20, files=1,
                                           start_ms=start, duplicate_payload_rate=0.02))
    return payloads, truth


def kinesis(endpoint: str):
    return boto3.client("kinesis", region_name=REGION, endpoint_url=endpoint)


def docs(out, index: str) -> list[dict]:
    path = index_path(str(out), index)
    return [doc for _, doc in read_index(path)]


def config(endpoint: str, out, truth: dict, **kw) -> StreamConfig:
    arch = {fn: f["architecture"] for fn, f in truth["functions"].items()}
    run = RunConfig(inputs=[], out_dir=str(out), region=REGION, architectures=arch)
    kw.setdefault("start", StartPosition("TRIM_HORIZON"))
    return StreamConfig(f"kinesis://{STREAM}", run, endpoint_url=endpoint, poll_s=0.1, **kw)


@pytest.fixture()
def ship(moto_kinesis, monkeypatch):
    """``ship(payloads) -> records put``: the forwarder's Lambda handler, fed subscription events."""
    for key, value in {"COLDTRACE_SHIPPER": "kinesis", "COLDTRACE_STREAM": STREAM, "AWS_REGION": REGION,
                       "AWS_ENDPOINT_URL": moto_kinesis, "COLDTRACE_METRICS": "false",
                       "COLDTRACE_ACCOUNT_ID": ACCOUNT}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(handler_module, "_FORWARDER", None)

    def ship(payloads: list[dict]) -> int:
        records = 0
        for payload in payloads:
            result = handler_module.handler({"awslogs": {"data": encode_payload(payload)}}, Context())
            assert result.get("dead_lettered", 0) == 0
            records += handler_module._FORWARDER.last_stats.records_out
        return records
    return ship


def wait_for(predicate, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_forwarder_to_streaming_pipeline_across_a_split_and_a_merge(moto_kinesis, ship, fleet, tmp_path):
    payloads, truth = fleet
    client = kinesis(moto_kinesis)
    client.create_stream(StreamName=STREAM, ShardCount=2)
    loop = CatchUp(config(moto_kinesis, tmp_path, truth))
    reports, put, done = [], [0], threading.Event()
    read = lambda: loop.ck.totals.get("records", 0)  # noqa: E731
    worker = threading.Thread(target=loop.run, kwargs={
        "until": lambda r: done.is_set() and read() >= put[0], "on_round": reports.append}, daemon=True)
    worker.start()

    n = len(payloads)
    parts = [payloads[: n // 6], payloads[n // 6: n // 3], payloads[n // 3: 2 * n // 3], payloads[2 * n // 3:]]
    put[0] += ship(parts[0])
    wait_for(lambda: read() >= put[0], "the loop to read the first part")
    put[0] += ship(parts[1])          # then split the shard while these may still be unread in it
    first = client.list_shards(StreamName=STREAM)["Shards"][0]
    low, high = int(first["HashKeyRange"]["StartingHashKey"]), int(first["HashKeyRange"]["EndingHashKey"])
    client.split_shard(StreamName=STREAM, ShardToSplit=first["ShardId"], NewStartingHashKey=str((low + high) // 2))
    put[0] += ship(parts[2])          # into the children; merge them back while the loop is reading
    children = [s["ShardId"] for s in client.list_shards(StreamName=STREAM)["Shards"]
                if s.get("ParentShardId") == first["ShardId"]]
    client.merge_shards(StreamName=STREAM, ShardToMerge=children[0], AdjacentShardToMerge=children[1])
    put[0] += ship(parts[3])
    done.set()
    worker.join(timeout=120)
    assert not worker.is_alive(), "the streaming loop did not stop after reading every record"
    loop.step(drain=True)   # close the open minutes and windows, as a drain of the job would

    # every record the forwarder put was read once: the reader followed parent → children → merged child
    assert loop.ck.totals["records"] == put[0]
    totals = loop.ck.totals      # every event read is accounted for: indexed once, or a dropped duplicate
    assert totals["events_read"] == totals["logs"] + totals["duplicates"] and totals["duplicates"] > 0
    assert set(loop.ck.finished) == {first["ShardId"], *children}
    shards = client.list_shards(StreamName=STREAM)["Shards"]
    assert {c.shard_id for c in loop.ck.cursors} == {s["ShardId"] for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]}

    # all invocations of the fleet, each exactly once, equal to the ground truth
    invocations = docs(tmp_path, INDEX_INVOCATIONS)
    counts = Counter(d["faas.execution"] for d in invocations)
    assert max(counts.values()) == 1
    assert set(counts) == {inv["request_id"] for inv in truth["invocations"]}
    by_id = {d["faas.execution"]: d for d in invocations}
    for inv in truth["invocations"]:
        d = by_id[inv["request_id"]]
        assert (d["faas.name"], d["aws.lambda.outcome"], d["aws.lambda.cold_start_kind"]) == (
            inv["function"], inv["outcome"], inv["cold_start_kind"]), inv

    # every log line once, though CloudWatch delivered some payloads twice
    assert truth["duplicate_payloads"] > 0
    log_ids = [d["event.id"] for d in docs(tmp_path, INDEX_LOGS)]
    assert len(log_ids) == len(set(log_ids)) == truth["events"]
    assert docs(tmp_path, INDEX_DEADLETTER) == []

    # the watermark moved forward with the reads, and never back
    marks = [r.watermark_ms for r in reports if r.watermark_ms is not None]
    assert len(marks) >= 2 and marks == sorted(marks) and marks[-1] > marks[0]

    # the pipeline's own iterator age, per minute, for alarm rules
    ages = [d for d in docs(tmp_path, INDEX_METRICS) if d["faas.name"] == "coldtrace-pipeline"]
    assert ages and all(d["coldtrace.metrics.source"] == "pipeline" for d in ages)
    assert all(0 <= d["aws.lambda.metrics.iterator_age_max_ms"] < 120_000 for d in ages)
    # points are emitted on time and corrected under the same id: the last version of each counts
    figures = [d for d in latest_docs(index_path(str(tmp_path), INDEX_METRICS)).values()
               if d["coldtrace.metrics.source"] == "logs"]
    assert sum(d["aws.lambda.metrics.invocations"] for d in figures) == len(truth["invocations"])


def test_moto_subscription_filter_delivers_gzipped_envelopes_the_loop_reads(moto_kinesis, fleet, tmp_path):
    """CloudWatch Logs → subscription filter → Kinesis (moto writes real gzip DATA_MESSAGEs)."""
    payloads, truth = fleet
    client = kinesis(moto_kinesis)
    client.create_stream(StreamName=STREAM, ShardCount=2)
    arn = client.describe_stream(StreamName=STREAM)["StreamDescription"]["StreamARN"]
    logs = boto3.client("logs", region_name=REGION, endpoint_url=moto_kinesis)
    data = [p for p in payloads if p["messageType"] == "DATA_MESSAGE"]
    group = data[0]["logGroup"]
    mine = [p for p in data if p["logGroup"] == group]
    logs.create_log_group(logGroupName=group)
    logs.put_subscription_filter(logGroupName=group, filterName="to-kinesis", filterPattern="",
                                 destinationArn=arn, roleArn=f"arn:aws:iam::{ACCOUNT}:role/cwl-to-kinesis")
    sent: set[str] = set()
    for p in mine:
        if p["logStream"] not in {s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]}:
            logs.create_log_stream(logGroupName=group, logStreamName=p["logStream"])
        fresh = [e for e in p["logEvents"] if e["id"] not in sent]   # moto would store a re-delivery twice
        if fresh:
            logs.put_log_events(logGroupName=group, logStreamName=p["logStream"],
                                logEvents=[{"timestamp": e["timestamp"], "message": e["message"]} for e in fresh])
            sent.update(e["id"] for e in fresh)
    loop = CatchUp(config(moto_kinesis, tmp_path, truth))
    loop.run(until=lambda r: not r.read_something)
    function = group.rsplit("/", 1)[-1]
    want = {inv["request_id"] for inv in truth["invocations"] if inv["function"] == function}
    got = Counter(d["faas.execution"] for d in docs(tmp_path, INDEX_INVOCATIONS))
    assert want and set(got) == want and max(got.values()) == 1
    assert len(docs(tmp_path, INDEX_LOGS)) == len(sent)


def test_a_restarted_loop_resumes_from_its_checkpoint_at_latest(moto_kinesis, ship, fleet, tmp_path):
    """LATEST is pinned to a time at the first read, so records put while no loop runs are read
    by the next one, once; a commit interrupted mid-append is completed exactly once."""
    payloads, truth = fleet
    kinesis(moto_kinesis).create_stream(StreamName=STREAM, ShardCount=2)
    half = len(payloads) // 2
    ship(payloads[:10])                                   # before the first read: LATEST skips these
    time.sleep(2.1)                                       # (LATEST is pinned to the second before the read)
    first = CatchUp(config(moto_kinesis, tmp_path, truth, start=StartPosition("LATEST")))
    first.step()
    assert first.ck.totals.get("records", 0) == 0
    put = ship(payloads[10:half])                          # no loop running
    second = CatchUp(config(moto_kinesis, tmp_path, truth, start=StartPosition("LATEST")))
    second.step()
    assert second.ck.totals["records"] == put
    before = {i: index_path(str(tmp_path), i) for i in (INDEX_LOGS, INDEX_INVOCATIONS)}
    sizes = {i: open(p, "rb").read() for i, p in before.items()}
    # as if the loop had been killed after its commit point, before the append finished
    second.ck.pending = {"round_dir": "rounds/00000002", "sizes": {i: 0 for i in before}}
    second._append()
    assert {i: open(p, "rb").read() for i, p in before.items()} == sizes
    ids = [d["event.id"] for d in docs(tmp_path, INDEX_LOGS)]
    assert len(ids) == len(set(ids)) == sum(len(p["logEvents"]) for p in payloads[10:half]
                                            if p["messageType"] == "DATA_MESSAGE") - _repeated(payloads, 10, half)


def _repeated(payloads: list[dict], lo: int, hi: int) -> int:
    """Events in payloads[lo:hi] that repeat an event already in that range (re-deliveries)."""
    seen: set[str] = set()
    dup = 0
    for p in payloads[lo:hi]:
        for e in p["logEvents"]:
            if p["messageType"] != "DATA_MESSAGE":
                continue
            dup += e["id"] in seen
            seen.add(e["id"])
    return dup
