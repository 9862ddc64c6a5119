"""Alarm notifications under faults: a webhook that times out, a webhook that never answers, SNS
(moto's server behind a proxy) failing and resetting connections. A row's events are alarm
transitions: each indexed in ``coldtrace-alarms`` once, and each delivered or dead-lettered
(stage ``notify``) with the reason — never silently dropped.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from pipeline.local_index import index_path, read_index
from pipeline.model import INDEX_ALARMS, INDEX_DEADLETTER
from pipeline.sinks.alarms import AlarmSettings
from pipeline.sources.incidents import parse_incident
from pipeline.sources.simulate import FleetConfig, fleet_functions, write_fleet
from pipeline.transforms.metrics_and_alarms import AlarmConfig
from tests.integration.es_support import FaultProxy
from tests.reliability.support import REGION, Clock, Row, record, run_pipeline

BASE = FleetConfig(seed=5, functions=4, minutes=8, invocations_per_minute=20, files=2)


@pytest.fixture(scope="module")
def incident_fleet(tmp_path_factory):
    """A fleet with an error burst: its alarm fires (ALARM) and clears (OK)."""
    fn = fleet_functions(BASE)[0].name
    cfg = dataclasses.replace(BASE, incidents=(parse_incident(f"error_burst:{fn}:2-5"),))
    out = tmp_path_factory.mktemp("incident-fleet")
    write_fleet(out, cfg)
    return out


class Webhook:
    """A Slack-compatible receiver on 127.0.0.1 whose first ``hang`` requests stall past the
    client's timeout before being accepted (so a timed-out POST was not acted on)."""

    def __init__(self, hang: int, hang_s: float = 1.0) -> None:
        self.hang, self.hang_s, self.requests, self.received = hang, hang_s, 0, []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.requests += 1
                if hook.requests <= hook.hang:
                    time.sleep(hook.hang_s)  # the client has given up by now: not accepted
                    return
                hook.received.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/s3cr3tT0ken"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class AwsErrorProxy(FaultProxy):
    """FaultProxy that can also answer a call the way an AWS query API fails: HTTP 500 with an XML
    ``InternalError`` body (nothing is forwarded, so nothing is published)."""

    def __init__(self, upstream, plan, fail_now) -> None:
        super().__init__(upstream, plan)
        self.fail_now = fail_now

    def _forward(self, method, path, headers, body):
        if b"Action=Publish" in body and self.fail_now():
            xml = (b"<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code>"
                   b"<Message>injected</Message></Error><RequestId>r-1</RequestId></ErrorResponse>")
            return 500, {"Content-Type": "text/xml"}, xml
        return super()._forward(method, path, headers, body)


def alarm_run(fleet_dir, tmp_path, notify: AlarmSettings):
    out = tmp_path / "out"
    run = run_pipeline([str(fleet_dir / "payloads-*.ndjson")], out, alarms=AlarmConfig(notify=notify))
    alarms = [doc for _, doc in read_index(index_path(str(out), INDEX_ALARMS))]
    notify_dead = [doc for _, doc in read_index(index_path(str(out), INDEX_DEADLETTER))
                   if doc["coldtrace.stage"] == "notify"]
    assert alarms, "the incident raised no alarm"
    return run, alarms, notify_dead


def alarm_key(state: str, function: str, rule: str) -> tuple[str, str, str]:
    return state, function, rule


def test_webhook_timeouts_are_retried(incident_fleet, tmp_path):
    clock = Clock()
    hook = Webhook(hang=2)
    try:
        run, alarms, dead = alarm_run(incident_fleet, tmp_path, AlarmSettings(
            webhook_url=hook.url, webhook_timeout_s=0.3, webhook_backoff_s=0.05, webhook_retries=4))
    finally:
        hook.close()
    want = Counter(alarm_key(a["coldtrace.alarm.state"], a["faas.name"], a["rule.name"]) for a in alarms)
    got = Counter(alarm_key(m["attachments"][0]["fields"][2]["value"].split(" → ")[1],
                            m["attachments"][0]["fields"][0]["value"], m["attachments"][0]["fields"][1]["value"])
                  for m in hook.received)
    record(Row("webhook timeouts (2 POSTs stall past a 0.3 s timeout)", sum(want.values()), sum((got & want).values()),
               len(dead), sum((got - want).values()), sum((want - got).values()), 0, run.ledger_state,
               f"alarm notifications (indexed = delivered): {hook.requests} POSTs for {len(alarms)}", clock.seconds))
    assert hook.requests == len(alarms) + 2 and not dead


def test_a_webhook_that_never_answers_dead_letters_each_notification(incident_fleet, tmp_path):
    clock = Clock()
    hook = Webhook(hang=10_000, hang_s=0.5)
    try:
        run, alarms, dead = alarm_run(incident_fleet, tmp_path, AlarmSettings(
            webhook_url=hook.url, webhook_timeout_s=0.2, webhook_backoff_s=0.02, webhook_retries=1))
    finally:
        hook.close()
    assert len(dead) == len(alarms) and not hook.received
    for d in dead:  # the reason says what failed, without the URL's secret path
        assert "failed after 2 attempts" in d["error.message"] and "s3cr3tT0ken" not in json.dumps(d)
    record(Row("webhook never answers (retries exhausted)", len(alarms), 0, len(dead), 0, len(alarms) - len(dead), 0,
               run.ledger_state, "alarm notifications: each → coldtrace-deadletter (stage notify), reason without the URL",
               clock.seconds))


def test_sns_publish_failures_and_resets_are_retried(incident_fleet, tmp_path, moto_reset):
    clock = Clock()
    sns = boto3.client("sns", region_name=REGION, endpoint_url=moto_reset)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_reset)
    topic = sns.create_topic(Name="coldtrace-alarms")["TopicArn"]
    queue = sqs.create_queue(QueueName="alarm-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    publishes = {"n": 0}

    def plan(n, method, path, body):
        if b"Action=Publish" not in body:
            return None
        publishes["n"] += 1
        return {2: "drop"}.get(publishes["n"])  # the second Publish: connection reset, nothing published
    # Publish 1 and 4 answer an AWS InternalError (500); botocore retries each failure (3 attempts at most)

    with AwsErrorProxy(moto_reset, plan, lambda: publishes["n"] in (1, 4)) as proxy:
        run, alarms, dead = alarm_run(incident_fleet, tmp_path, AlarmSettings(
            sns_topic_arn=topic, sns_region=REGION, sns_endpoint_url=proxy.url))
    got: Counter = Counter()
    while msgs := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        for m in msgs:
            got[json.loads(m["Body"])["id"]] += 1
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    ids = set(got)
    record(Row("SNS Publish 500 (AWS error), connection reset, 500 again", len(alarms), len(ids), len(dead),
               sum(n - 1 for n in got.values()), len(alarms) - len(ids) - len(dead), 0, run.ledger_state,
               f"alarm notifications (indexed = delivered): {publishes['n']} Publish calls for {len(alarms)}",
               clock.seconds))
    assert publishes["n"] == len(alarms) + 3 and len(ids) == len(alarms) and not dead
