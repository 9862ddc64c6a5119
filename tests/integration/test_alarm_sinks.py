"""Alarm notifications against real local endpoints: SNS on the moto server (delivered to an SQS
queue subscribed to the topic), a webhook on an HTTP server started here (Slack-compatible JSON,
retries with backoff, Retry-After honoured), and ``coldtrace run`` sending both end to end.
The webhook URL is a secret: it never shows in a log, an error, a repr or the summary."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from pipeline.model import Alarm
from pipeline.sinks.alarms import AlarmSettings, DeliveryError, SnsNotifier, WebhookNotifier, notify, post_json, slack_payload
from tests.conftest import ROOT, free_port

T0 = 1714557600000
SECRET_PATH = "/services/T000/B000/XXXXsecretXXXXtoken"


def alarm(state: str = "ALARM", fn: str = "orders-api") -> Alarm:
    return Alarm(rule="error-rate", function_name=fn, state=state, previous_state="OK" if state == "ALARM" else "ALARM",
                 time_ms=T0 + 180_000, value=0.41, threshold=0.15, severity="critical",
                 reason=f"{fn}: 41 of 100 invocations failed in 1 min (41 % > 15 %); 3 of the last 5 minutes breached",
                 window_start_ms=T0 + 120_000, window_end_ms=T0 + 180_000)


class Hook:
    """A webhook receiver that answers each request with the next scripted status (then 200)."""

    def __init__(self, script=()):
        self.script = list(script)
        self.received: list[dict] = []
        self.paths: list[str] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.paths.append(self.path)
                status, headers = (hook.script.pop(0) if hook.script else (200, {}))
                if status == 200:
                    hook.received.append(json.loads(body))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}{SECRET_PATH}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def hook():
    h = Hook()
    yield h
    h.close()


# -- webhook -------------------------------------------------------------------------------------

def test_webhook_retries_5xx_and_429_with_backoff_then_delivers(hook, caplog):
    hook.script = [(503, {}), (429, {"Retry-After": "0.05"}), (500, {})]
    waits: list[float] = []
    notifier = WebhookNotifier(AlarmSettings(webhook_url=hook.url, webhook_retries=4, webhook_backoff_s=0.01),
                               sleep=lambda s: waits.append(s))
    with caplog.at_level(logging.DEBUG):
        assert notifier.send(alarm()) == 4
    assert waits == [0.01, 0.05, 0.04]  # exponential backoff, except where the server said when
    assert len(hook.paths) == 4 and hook.paths[-1] == SECRET_PATH
    (msg,) = hook.received
    assert msg == slack_payload(alarm())
    assert msg["text"].startswith(":rotating_light: *ALARM* orders-api: error-rate")
    att = msg["attachments"][0]
    assert att["color"] == "#d0021b" and att["text"].startswith("orders-api: 41 of 100 invocations failed")
    assert {f["title"]: f["value"] for f in att["fields"]}["State"] == "OK → ALARM"
    assert "secret" not in caplog.text


def test_webhook_gives_up_without_leaking_the_url(hook, caplog):
    hook.script = [(500, {})] * 3
    with pytest.raises(DeliveryError) as err:
        post_json(hook.url, {"text": "x"}, retries=2, backoff_s=0.0, sleep=lambda s: None)
    assert "after 3 attempts: HTTP 500" in str(err.value) and "secret" not in str(err.value)
    hook.script = [(400, {})]
    with pytest.raises(DeliveryError, match="refused the notification: HTTP 400"):
        post_json(hook.url, {"text": "x"}, retries=5, sleep=lambda s: None)
    assert len(hook.paths) == 4  # a 400 is not retried
    closed = f"http://127.0.0.1:{free_port()}{SECRET_PATH}"
    with caplog.at_level(logging.DEBUG):
        failed = notify(alarm(), [("webhook", WebhookNotifier(AlarmSettings(webhook_url=closed, webhook_retries=1,
                                                                             webhook_backoff_s=0.0)))])
    (dead,) = failed
    assert dead.stage == "notify" and dead.source == "webhook" and "after 2 attempts" in dead.error
    assert json.loads(dead.raw)["rule.name"] == "error-rate"
    assert "secret" not in dead.error and "secret" not in caplog.text


def test_settings_keep_the_webhook_url_secret():
    s = AlarmSettings.from_env({"HOOK": f"https://hooks.example.com{SECRET_PATH}"}, webhook_url_env="HOOK")
    assert "secret" not in repr(s) and s.describe() == ["webhook https://hooks.example.com/…"]
    with pytest.raises(ValueError, match="environment variable NOPE"):
        AlarmSettings.from_env({}, webhook_url_env="NOPE")
    with pytest.raises(ValueError, match="http"):
        AlarmSettings(webhook_url="ftp://x")


# -- SNS -------------------------------------------------------------------------------------------

def _topic_with_queue(endpoint: str) -> tuple[str, str, object]:
    sns = boto3.client("sns", endpoint_url=endpoint, region_name="eu-west-1")
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="eu-west-1")
    topic = sns.create_topic(Name="coldtrace-alarms")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="alarm-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue_url, sqs


def _drain(sqs, queue_url: str) -> list[dict]:
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def test_sns_publishes_the_alarm_document(moto_reset):
    topic, queue_url, sqs = _topic_with_queue(moto_reset)
    notifier = SnsNotifier(topic, endpoint_url=moto_reset)
    assert notifier.send(alarm()) and notifier.send(alarm("OK"))
    envelopes = _drain(sqs, queue_url)
    assert [e["Subject"] for e in envelopes] == ["ALARM: orders-api error-rate", "OK: orders-api error-rate"]
    first = json.loads(envelopes[0]["Message"])
    assert first["rule.name"] == "error-rate" and first["coldtrace.alarm.state"] == "ALARM"
    assert first["id"] == alarm().doc_id()
    assert envelopes[0]["MessageAttributes"]["severity"]["Value"] == "critical"


def test_sns_failure_is_a_dead_letter(moto_reset):
    missing = "arn:aws:sns:eu-west-1:123456789012:no-such-topic"
    (dead,) = notify(alarm(), [("sns", SnsNotifier(missing, endpoint_url=moto_reset))])
    assert dead.stage == "notify" and dead.source == "sns" and "no-such-topic" in dead.error


# -- end to end ------------------------------------------------------------------------------------

def test_coldtrace_run_sends_every_alarm_to_sns_and_the_webhook(moto_reset, hook, tmp_path):
    topic, queue_url, sqs = _topic_with_queue(moto_reset)
    hook.script = [(502, {})]  # the first delivery is retried
    env = {**os.environ, "ALARM_HOOK": hook.url}
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run", "--out", str(out), "--events", "6000", "--no-report",
         "--incident", "error_burst:orders-api:1-4", "--sns-topic-arn", topic, "--sns-endpoint-url", moto_reset,
         "--webhook-url-env", "ALARM_HOOK", "--alarms-stdout"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    transitions = summary["alarms"]["transitions"]
    assert ("orders-api", "error-rate", "ALARM") in {(t["function"], t["rule"], t["state"]) for t in transitions}
    assert summary["documents"]["coldtrace-alarms"] == len(transitions) > 0
    assert "alarms raised" in proc.stdout and "[ALARM] orders-api error-rate" in proc.stdout
    sent = sorted((m["attachments"][0]["fields"][0]["value"], m["attachments"][0]["fields"][1]["value"],
                   m["text"].split("*")[1]) for m in hook.received)
    assert sent == sorted((t["function"], t["rule"], t["state"]) for t in transitions)
    published = _drain(sqs, queue_url)
    assert sorted(e["Subject"] for e in published) == sorted(f"{t['state']}: {t['function']} {t['rule']}"
                                                             for t in transitions)
    for text in (proc.stdout, proc.stderr, (out / "summary.json").read_text()):
        assert "secret" not in text
