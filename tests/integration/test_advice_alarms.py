"""Regression findings as alarms (``--advice-alarms``), end to end on real local servers.

A hand-made fleet: one function, ``orders``, runs version 12 for ten minutes, then version 13
for ten more (400 invocations each, on four environments per version). In the regressing fleet,
version 13 is four times slower and fails one invocation in ten (version 12: one in a hundred),
which is below every built-in rule's threshold (error-rate alarms at 15 %): the only alarm is the
regression. In the steady fleet, version 13 behaves as 12 did.

- batch with ``--advice-alarms``: one ALARM document in ``coldtrace-alarms``, one webhook call
  (a local HTTP server), one SNS message (moto's server, delivered to a subscribed SQS queue);
- batch without the flag (its default), and a steady fleet with it: none;
- the catch-up loop over Kinesis on moto: the same alarm document as batch, raised once across
  rounds and a restart; on by default with ``--streaming``, none with ``--no-advice-alarms``;
- the endless graph (BundleBasedDirectRunner, bounded read): the same document.
"""

from __future__ import annotations

import gzip
import os
import time

import apache_beam as beam
import boto3
import orjson
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline.cli import main
from pipeline.local_index import index_path, latest_docs
from pipeline.model import INDEX_ALARMS, iso_ms
from pipeline.run import LOCAL_INDICES, RunConfig
from pipeline.sinks.alarms import AlarmSettings
from pipeline.sinks.index_files import join_index_shards
from pipeline.sources.kinesis_shards import StartPosition
from pipeline.sources.simulate import encode_payload
from pipeline.streaming.catchup import CatchUp
from pipeline.streaming.config import StreamConfig
from pipeline.streaming.graph import build_streaming
from pipeline.transforms.metrics_and_alarms import AlarmConfig
from tests.integration.test_alarm_sinks import Hook, _drain, _topic_with_queue

ACCOUNT = "123456789012"
REGION = "eu-west-1"
STREAM = "advice"
MIN = 60_000
PER_VERSION = 400
ENVS = 4


def _rid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def fleet(start_ms: int, regress: bool) -> list[dict]:
    """Subscription payloads (one per environment and 20 invocations) of versions 12 then 13."""
    payloads, n, eid = [], 0, 0
    for phase, version in enumerate(("12", "13")):
        slow, fail_every = (4.0, 10) if regress and version == "13" else (1.0, 100)
        for env in range(ENVS):
            stream = f"2030/01/01/[{version}]{env:032x}"
            events = []
            for k in range(PER_VERSION // ENVS):
                n += 1
                t = start_ms + phase * 10 * MIN + k * 6_000 + env * 1_500
                duration = slow * (80.0 + (n * 37) % 41)          # 80..120 ms, spread evenly
                rid = _rid(n)
                lines = [(0, f"START RequestId: {rid} Version: {version}\n")]
                if k % fail_every == fail_every - 1:
                    lines.append((int(duration) - 1, "[ERROR] ValueError: order has no items\nTraceback "
                                                      "(most recent call last):\n  File \"/var/task/app.py\"\n"))
                init = "Init Duration: 250.00 ms\t" if k == 0 else ""
                lines += [(int(duration), f"END RequestId: {rid}\n"),
                          (int(duration), f"REPORT RequestId: {rid}\tDuration: {duration:.2f} ms\tBilled Duration: "
                                          f"{int(duration) + 1} ms\tMemory Size: 128 MB\tMax Memory Used: 61 MB\t{init}\n")]
                for offset, message in lines:
                    eid += 1
                    events.append({"id": f"{eid:056d}", "timestamp": t + offset, "message": message})
            for i in range(0, len(events), 80):
                payloads.append({"messageType": "DATA_MESSAGE", "owner": ACCOUNT, "logGroup": "/aws/lambda/orders",
                                 "logStream": stream, "subscriptionFilters": ["coldtrace"],
                                 "logEvents": events[i:i + 80]})
    return payloads


def start_ms() -> int:
    now = int(time.time() * 1000)
    return now - now % MIN - 30 * MIN     # logged just now: event time close to arrival time


def write_input(path, payloads: list[dict]) -> str:
    path.write_bytes(b"".join(orjson.dumps({"awslogs": {"data": encode_payload(p)}}) + b"\n" for p in payloads))
    return str(path)


def alarms(out) -> dict[str, dict]:
    path = index_path(str(out), INDEX_ALARMS)
    return latest_docs(path) if os.path.exists(path) else {}


@pytest.fixture(scope="module")
def start():
    return start_ms()


@pytest.fixture()
def hook():
    h = Hook()
    yield h
    h.close()


@pytest.fixture(scope="module")
def batch_reference(start, tmp_path_factory):
    """The regressing fleet through batch with --advice-alarms (no notifier): the reference."""
    out = tmp_path_factory.mktemp("batch-ref")
    src = write_input(out / "input.ndjson", fleet(start, regress=True))
    assert main(["run", "-q", "--no-report", "--input", src, "--out", str(out / "out"), "--advice-alarms"]) == 0
    return alarms(out / "out")


def test_batch_with_advice_alarms_indexes_and_notifies_the_regression_once(start, moto_reset, hook, tmp_path,
                                                                           monkeypatch):
    topic, queue_url, sqs = _topic_with_queue(moto_reset)
    monkeypatch.setenv("ADVICE_HOOK", hook.url)
    src = write_input(tmp_path / "input.ndjson", fleet(start, regress=True))
    out = tmp_path / "out"
    assert main(["run", "-q", "--no-report", "--input", src, "--out", str(out), "--advice-alarms",
                 "--webhook-url-env", "ADVICE_HOOK", "--sns-topic-arn", topic, "--sns-endpoint-url", moto_reset]) == 0

    [doc] = alarms(out).values()
    assert (doc["rule.name"], doc["faas.name"], doc["coldtrace.alarm.state"]) == ("version-regression", "orders", "ALARM")
    assert doc["@timestamp"] == iso_ms(start + 10 * MIN)          # when version 13 was first seen
    reason = doc["message"]
    assert reason.startswith(f"version 13 first seen at {iso_ms(start + 10 * MIN)} (before: 12): ")
    assert "error rate 1.0% → 10.0%" in reason and "p95 duration" in reason and "(x4.0)" in reason
    assert doc["coldtrace.alarm.severity"] == "critical"            # the error rate moved

    [message] = hook.received
    assert message["text"].startswith(":rotating_light: *ALARM* orders: version-regression")
    assert message["attachments"][0]["text"] == reason
    [envelope] = _drain(sqs, queue_url)
    assert envelope["Subject"] == "ALARM: orders version-regression"
    assert orjson.loads(envelope["Message"])["message"] == reason


def test_batch_raises_no_regression_alarm_by_default_nor_for_a_steady_fleet(start, hook, tmp_path, monkeypatch):
    monkeypatch.setenv("ADVICE_HOOK", hook.url)
    regressing = write_input(tmp_path / "regressing.ndjson", fleet(start, regress=True))
    steady = write_input(tmp_path / "steady.ndjson", fleet(start, regress=False))
    common = ["run", "-q", "--no-report", "--webhook-url-env", "ADVICE_HOOK"]
    assert main([*common, "--input", regressing, "--out", str(tmp_path / "default")]) == 0
    assert main([*common, "--input", steady, "--out", str(tmp_path / "steady"), "--advice-alarms"]) == 0
    assert alarms(tmp_path / "default") == {} and alarms(tmp_path / "steady") == {}
    assert hook.received == []
    # the advice itself is still there without the flag: only the alarm is off
    assert (tmp_path / "default" / "aggregates" / "advice.json").exists()


# -- streaming ---------------------------------------------------------------------------------------

def put_records(endpoint: str, payloads: list[dict]) -> None:
    """As a CloudWatch Logs subscription delivers: one gzipped DATA_MESSAGE per record."""
    client = boto3.client("kinesis", region_name=REGION, endpoint_url=endpoint)
    for p in payloads:
        client.put_record(StreamName=STREAM, Data=gzip.compress(orjson.dumps(p), mtime=0), PartitionKey=p["logStream"])


@pytest.fixture()
def kinesis(moto_kinesis):
    boto3.client("kinesis", region_name=REGION, endpoint_url=moto_kinesis).create_stream(StreamName=STREAM,
                                                                                         ShardCount=2)
    return moto_kinesis


def stream_config(endpoint: str, out, advice_alarms: bool, notify: AlarmSettings | None = None) -> StreamConfig:
    run = RunConfig(inputs=[], out_dir=str(out), region=REGION,
                    alarms=AlarmConfig(notify=notify or AlarmSettings(), advice_alarms=advice_alarms))
    return StreamConfig(f"kinesis://{STREAM}", run, start=StartPosition("TRIM_HORIZON"), endpoint_url=endpoint,
                        poll_s=0)


def test_the_catch_up_loop_raises_the_batch_alarm_once_across_rounds_and_a_restart(
        start, batch_reference, kinesis, hook, tmp_path):
    payloads = fleet(start, regress=True)
    half = len(payloads) // 2                      # version 12 only: nothing to compare yet
    put_records(kinesis, payloads[:half])
    notify = AlarmSettings(webhook_url=hook.url)
    out = tmp_path / "out"
    CatchUp(stream_config(kinesis, out, True, notify)).run(until=lambda r: not r.read_something, sleep=lambda s: None)
    assert alarms(out) == {} and hook.received == []

    put_records(kinesis, payloads[half:])
    loop = CatchUp(stream_config(kinesis, out, True, notify))      # a restart, from the checkpoint
    loop.run(until=lambda r: not r.read_something, sleep=lambda s: None, drain_at_end=True)
    assert alarms(out) == batch_reference and len(batch_reference) == 1
    assert [m["text"].split(":")[2].strip() for m in hook.received] == ["*ALARM* orders"]
    assert len(loop.ck.advice_raised) == 1

    loop.step()                                     # a later round re-evaluates: raised already
    assert len(hook.received) == 1
    with open(index_path(str(out), INDEX_ALARMS), "rb") as f:
        assert f.read().count(b"\n") == 2           # one document (an action line and its body)


def test_streaming_raises_it_by_default_and_not_with_no_advice_alarms(start, batch_reference, kinesis, tmp_path):
    put_records(kinesis, fleet(start, regress=True))
    common = ["run", "-q", "--no-report", "--streaming", "--input", f"kinesis://{STREAM}", "--endpoint-url", kinesis,
              "--region", REGION, "--start-position", "trim_horizon", "--poll", "0", "--until-caught-up"]
    assert main([*common, "--out", str(tmp_path / "default")]) == 0
    assert main([*common, "--out", str(tmp_path / "off"), "--no-advice-alarms"]) == 0
    # The loop raises the finding after the first read in which it is significant, so its message
    # carries the figures read so far; the document id and every other field are batch's.
    assert _without_figures(alarms(tmp_path / "default")) == _without_figures(batch_reference)
    (message,) = [doc["message"] for doc in alarms(tmp_path / "default").values()]
    assert message.startswith(next(iter(batch_reference.values()))["message"].split(": error rate")[0])
    assert "error rate" in message and "p95 duration" in message
    assert alarms(tmp_path / "off") == {}


def _without_figures(docs: dict[str, dict]) -> dict[str, dict]:
    return {k: {f: v for f, v in doc.items() if f != "message"} for k, doc in docs.items()}


def test_the_endless_graph_raises_the_batch_alarm(start, batch_reference, kinesis, tmp_path):
    put_records(kinesis, fleet(start, regress=True))
    opts = PipelineOptions(["--runner=BundleBasedDirectRunner"])
    opts.view_as(StandardOptions).streaming = True
    with beam.Pipeline(options=opts) as p:
        build_streaming(p, stream_config(kinesis, tmp_path, True), bounded=True, splittable=False)
    join_index_shards(str(tmp_path), LOCAL_INDICES)
    regressions = {i: d for i, d in alarms(tmp_path).items() if d["rule.name"] == "version-regression"}
    assert regressions == batch_reference and len(regressions) == 1
