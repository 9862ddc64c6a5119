"""Forwarder → Kinesis (moto's server behind a throttling proxy) → pipeline, under faults.

Each test ships the suite's fleet through the real forwarder, reads the stream back as the
pipeline's input, runs the pipeline and counts the logs index: every event once, or set aside
in the dead-letter queue with its reason.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import boto3
import orjson

from pipeline.cli import main as cli_main
from pipeline.local_index import index_path, read_index
from pipeline.model import INDEX_LOGS
from tests.integration.kinesis_proxy import ThrottlingProxy
from tests.integration.test_forwarder_kinesis import (
    Context,
    drain,
    env_for,
    forwarder,
    make_queue,
    make_stream,
    subscription_event,
)
from tests.reliability.support import REGION, Clock, Row, event_keys, record, run_pipeline, stream_to_spool, write_json


def peek(endpoint: str, url: str) -> list[dict]:
    """Every message of the queue, left in it (visible again at once)."""
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
    out: list[dict] = []
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages"):
        out += msgs
    for m in out:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    return out


def data_payloads(payloads):
    return [p for p in payloads if p["messageType"] == "DATA_MESSAGE"]


def kinesis_batch(payloads) -> dict:
    """The payloads as one Kinesis event-source batch (the forwarder consuming a stream)."""
    return {"Records": [{"eventSource": "aws:kinesis", "eventID": f"shardId-000000000000:{n}",
                         "kinesis": {"sequenceNumber": str(49650000000000000000000000 + n), "partitionKey": "k",
                                     "data": subscription_event(p)["awslogs"]["data"]}}
                        for n, p in enumerate(payloads)]}


def ship_and_index(endpoint, stream_name, tmp_path, fault, clock, events_in, notes, dead=frozenset()):
    """Read the stream into the pipeline; the row counts the logs index against ``events_in``."""
    spool, records = stream_to_spool(endpoint, stream_name, tmp_path / "spool")
    out = run_pipeline([str(spool / "*.ndjson")], tmp_path / "out")
    indexed = set(out.docs_by_event)
    assert not indexed - events_in, "documents for events that never went in"
    row = record(Row(fault, len(events_in), len(indexed), len(dead), out.duplicate_docs,
                     len(events_in - indexed - dead), out.ledger.totals["duplicates_removed"], out.ledger_state,
                     notes.format(records=records), clock.seconds))
    return row, out


def test_putrecords_partial_failures_are_retried(moto_reset, fleet_payloads, tmp_path):
    clock = Clock()
    payloads, _ = fleet_payloads
    arn = make_stream(moto_reset)
    rule = lambda call, i, key, data: call % 2 == 1 and i % 2 == 1  # noqa: E731  odd calls: every other record fails
    with ThrottlingProxy(moto_reset, rule) as proxy:
        fwd = forwarder(env_for(proxy.url, arn, COLDTRACE_MAX_RECORD_BYTES="4096"))
        assert fwd.handle(kinesis_batch(data_payloads(payloads)), Context()) == {"batchItemFailures": []}
        assert fwd.last_stats.balanced and fwd.last_stats.events_failed == 0
    assert proxy.failed > 0
    ship_and_index(moto_reset, "ingress", tmp_path, "Kinesis PutRecords partial failures", clock,
                   event_keys(payloads), f"{proxy.failed} records failed then retried alone; {{records}} records")


def test_a_throttled_stream_is_waited_out(moto_reset, fleet_payloads, tmp_path):
    clock = Clock()
    payloads, _ = fleet_payloads
    arn = make_stream(moto_reset)
    rule = lambda call, i, key, data: call <= 4  # noqa: E731  the first four calls: every record throttled
    with ThrottlingProxy(moto_reset, rule) as proxy:
        fwd = forwarder(env_for(proxy.url, arn))
        result = fwd.handle(kinesis_batch(data_payloads(payloads)), Context())
    s = fwd.last_stats
    assert result == {"batchItemFailures": []} and s.balanced and s.throttled > 0 and s.retries > 0
    ship_and_index(moto_reset, "ingress", tmp_path, "Kinesis throttling (every record, 4 calls)", clock,
                   event_keys(payloads), f"{s.throttled} throttled, {s.retries} retries; EMF ledger balanced")


def test_a_stream_throttled_beyond_retries_goes_to_the_dlq_with_its_reason(moto_reset, fleet_payloads, tmp_path):
    clock = Clock()
    payloads, _ = fleet_payloads
    data = data_payloads(payloads)
    arn, dlq = make_stream(moto_reset), make_queue(moto_reset)
    doomed = f"{data[0]['logGroup']}|{data[0]['logStream']}"
    with ThrottlingProxy(moto_reset, lambda call, i, key, d: key == doomed) as proxy:
        fwd = forwarder(env_for(proxy.url, arn, dlq, COLDTRACE_MAX_ATTEMPTS="3"))
        for p in data:
            fwd.handle(subscription_event(p), Context())
            assert fwd.last_stats.balanced
    letters = [orjson.loads(m["Body"]) for m in peek(moto_reset, dlq)]
    dead = {(b["coldtrace"]["log_group"], b["coldtrace"]["log_stream"], i) for b in letters
            for i in b["coldtrace"]["event_ids"]}
    assert letters and all("ProvisionedThroughputExceededException" in b["coldtrace"]["reason"] for b in letters)
    events_in = event_keys(payloads)
    row, first = ship_and_index(moto_reset, "ingress", tmp_path, "Kinesis stream throttled beyond retries → SQS DLQ",
                                clock, events_in, "{records} records; one log stream dead-lettered whole", dead=dead)
    assert row.dead_lettered > 0 and not dead & set(first.docs_by_event)

    clock = Clock()  # then the documented way back: coldtrace replay from the queue
    code = cli_main(["replay", "--sqs-url", dlq, "--out", str(tmp_path / "replay"), "--region", REGION,
                     "--endpoint-url", moto_reset, "--delete", "--quiet"])
    assert code == 0 and drain(moto_reset, dlq) == []     # replayed, then deleted from the queue
    replayed = Counter((d["log.group"], d["log.stream"], d["event.id"])
                       for _, d in read_index(index_path(str(tmp_path / "replay"), INDEX_LOGS)))
    both = Counter(first.docs_by_event) + replayed
    record(Row("… then `coldtrace replay --sqs-url` (DLQ emptied)", len(events_in), len(set(both) & events_in), 0,
               sum(n - 1 for n in both.values() if n > 1), len(events_in - set(both)), 0, "balanced",
               f"{len(replayed)} events replayed from {len(letters)} messages", clock.seconds))
    assert set(replayed) == dead


KILLABLE = """
import json, sys
from forwarder.handler import Forwarder
from forwarder.settings import Settings

class Context:
    def get_remaining_time_in_millis(self):
        return 60_000

env = json.load(open(sys.argv[1]))
event = json.load(open(sys.argv[2]))
Forwarder(Settings.from_env(env)).handle(event, Context())
print("finished")  # never reached: the test kills this process mid-batch
"""


def test_the_forwarder_killed_mid_batch_then_retried_duplicates_nothing(moto_reset, fleet_payloads, tmp_path):
    """Half the batch lands, the retry of the rest hangs and the process is killed (SIGKILL); the
    event source delivers the whole batch again. Kinesis then holds those records twice: the
    pipeline indexes each event once."""
    clock = Clock()
    payloads, _ = fleet_payloads
    batch = kinesis_batch(data_payloads(payloads))
    arn = make_stream(moto_reset)
    release = threading.Event()

    def rule(call, i, key, data):
        if call == 1:
            return i % 2 == 1          # first call: every other record throttled
        release.wait(20)               # the retry hangs until the process is dead…
        return True                    # …and then stores nothing

    with ThrottlingProxy(moto_reset, rule) as proxy:
        env = dict(env_for(proxy.url, arn), AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        script = tmp_path / "forward.py"
        script.write_text(KILLABLE)
        proc = subprocess.Popen([sys.executable, str(script), str(write_json(tmp_path / "env.json", env)),
                                 str(write_json(tmp_path / "event.json", batch))],
                                cwd=os.getcwd(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, "PYTHONPATH": os.getcwd()})
        deadline = time.monotonic() + 30
        while proxy.calls < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert proxy.calls >= 2, proc.communicate(timeout=5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        release.set()
    assert proc.returncode == -signal.SIGKILL and b"finished" not in proc.stdout.read()
    landed_first = proxy.calls  # noqa: F841  (kept for the reader: calls made before the kill)
    fwd = forwarder(env_for(moto_reset, arn))           # Lambda retries the same batch
    assert fwd.handle(batch, Context()) == {"batchItemFailures": []} and fwd.last_stats.balanced
    row, _ = ship_and_index(moto_reset, "ingress", tmp_path, "forwarder killed mid-batch (SIGKILL), batch retried",
                         clock, event_keys(payloads), "{records} records in the stream, half the batch twice")
    assert row.deduplicated > 0  # the re-shipped half reached the pipeline twice and was removed once
