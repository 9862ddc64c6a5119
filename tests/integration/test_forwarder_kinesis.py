"""The forwarder's handler against moto's server: Kinesis, an SQS dead-letter queue, SSM.

Throttling is injected by a proxy in front of moto (``kinesis_proxy.py``) that fails chosen
PutRecords entries with ProvisionedThroughputExceededException, as a hot shard does. Every test
ends with count equality: each event is in the stream exactly once, or accounted for in the
dead-letter queue or in ``batchItemFailures``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import io
from collections import Counter

import boto3
import orjson
import pytest

import forwarder.handler as handler_module
from forwarder.handler import Forwarder, ForwardingError
from forwarder.secrets import SecretCache
from forwarder.settings import Settings
from pipeline.model import LogEvent
from pipeline.sources.formats import read_stream as read_file
from pipeline.sources.simulate import FleetConfig, encode_payload, simulate
from tests.integration.kinesis_proxy import ThrottlingProxy

REGION = "eu-west-1"
ACCOUNT = "123456789012"


class Context:
    """What the forwarder reads from Lambda's context object."""

    function_name = "coldtrace-forwarder"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:coldtrace-forwarder"

    def __init__(self, remaining_ms: int = 60_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture(scope="module")
def fleet() -> list[dict]:
    payloads, _ = simulate(FleetConfig(seed=21, functions=4, minutes=1, invocations_per_minute=20, files=1,
                                       duplicate_payload_rate=0.0))
    return [p for p in payloads if p["messageType"] == "DATA_MESSAGE"]


def client(service: str, endpoint: str):
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


def make_stream(endpoint: str, name: str = "ingress", shards: int = 2) -> str:
    kinesis = client("kinesis", endpoint)
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    return kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamARN"]


def make_queue(endpoint: str, name: str = "forwarder-dlq") -> str:
    return client("sqs", endpoint).create_queue(QueueName=name)["QueueUrl"]


def read_stream(endpoint: str, name: str = "ingress") -> list[tuple[str, dict]]:
    """(partition key, LogEvent record) of every line in every record of every shard."""
    kinesis = client("kinesis", endpoint)
    out: list[tuple[str, dict]] = []
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=name, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            resp = kinesis.get_records(ShardIterator=it, Limit=10_000)
            for rec in resp["Records"]:
                data = rec["Data"]
                if data[:2] == b"\x1f\x8b":
                    data = gzip.decompress(data)
                out.extend((rec["PartitionKey"], orjson.loads(line)) for line in data.splitlines())
            if not resp["Records"] or resp.get("MillisBehindLatest", 0) == 0:
                break
            it = resp["NextShardIterator"]
    return out


def drain(endpoint: str, url: str) -> list[dict]:
    sqs = client("sqs", endpoint)
    out = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def env_for(endpoint: str, stream: str, dlq: str | None = None, **extra: str) -> dict[str, str]:
    env = {"COLDTRACE_SHIPPER": "kinesis", "COLDTRACE_STREAM": stream, "AWS_REGION": REGION,
           "AWS_ENDPOINT_URL": endpoint, "COLDTRACE_BACKOFF_BASE_MS": "1", "COLDTRACE_BACKOFF_CAP_MS": "5"}
    if dlq:
        env["COLDTRACE_DLQ_URL"] = dlq
    env.update(extra)
    return env


def forwarder(env: dict[str, str]) -> Forwarder:
    return Forwarder(Settings.from_env(env), out=io.BytesIO())


def subscription_event(payload: dict) -> dict:
    return {"awslogs": {"data": encode_payload(payload)}}


def event_ids(payloads: list[dict]) -> list[str]:
    return [e["id"] for p in payloads for e in p["logEvents"]]


def test_handler_ships_decoded_enriched_records_to_kinesis(moto_reset, fleet, monkeypatch):
    arn = make_stream(moto_reset)
    for k, v in env_for(moto_reset, arn).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(handler_module, "_FORWARDER", None)
    for payload in fleet:
        result = handler_module.handler(subscription_event(payload), Context())
        assert result["shipped"] == len(payload["logEvents"]) and result["dead_lettered"] == 0
    lines = read_stream(moto_reset)
    assert Counter(rec["id"] for _, rec in lines) == Counter(event_ids(fleet))  # each exactly once
    by_id = {e["id"]: (p, e) for p in fleet for e in p["logEvents"]}
    for key, rec in lines:
        payload, original = by_id[rec["id"]]
        ev = LogEvent.from_record(rec)
        assert key == f"{payload['logGroup']}|{payload['logStream']}"  # one instance, one shard, in order
        assert ev.log_group == payload["logGroup"] and ev.log_stream == payload["logStream"]
        assert ev.function_name == payload["logGroup"].rsplit("/", 1)[-1]
        assert ev.instance_id and payload["logStream"].endswith(ev.instance_id)
        assert ev.function_version and f"[{ev.function_version}]" in payload["logStream"]
        assert (ev.account, ev.region) == (ACCOUNT, REGION)
        assert ev.timestamp == original["timestamp"] and ev.arrival_ms is not None
        assert ev.message == original["message"]  # simulated lines hold no secrets to redact


def test_throttled_stream_ships_or_dead_letters_every_event(moto_reset, fleet):
    """Some records are throttled once (retried, shipped); one log stream's always (dead-lettered)."""
    arn = make_stream(moto_reset)
    dlq = make_queue(moto_reset)
    doomed = fleet[0]
    doomed_key = f"{doomed['logGroup']}|{doomed['logStream']}"
    rule = lambda call, i, key, data: key == doomed_key or (call % 2 == 1 and i % 2 == 0)  # noqa: E731
    with ThrottlingProxy(moto_reset, rule) as proxy:
        fwd = forwarder(env_for(proxy.url, arn, dlq, COLDTRACE_MAX_ATTEMPTS="6", COLDTRACE_MAX_RECORD_BYTES="4096"))
        shipped = failed = retries = 0
        for payload in fleet:
            fwd.handle(subscription_event(payload), Context())
            s = fwd.last_stats
            assert s.balanced and s.events_in == len(payload["logEvents"])
            shipped, failed, retries = shipped + s.events_shipped, failed + s.events_failed, retries + s.retries
        assert proxy.failed > 0
    doomed_ids = [e["id"] for p in fleet if f"{p['logGroup']}|{p['logStream']}" == doomed_key for e in p["logEvents"]]
    in_stream = Counter(rec["id"] for _, rec in read_stream(moto_reset))
    letters = [orjson.loads(m["Body"]) for m in drain(moto_reset, dlq)]
    dead_ids = Counter(i for body in letters for i in body["coldtrace"]["event_ids"])
    assert retries > 0 and failed == len(doomed_ids) and shipped + failed == len(event_ids(fleet))
    assert in_stream + dead_ids == Counter(event_ids(fleet))      # nothing lost, nothing twice
    assert set(dead_ids) == set(doomed_ids)
    originals = {encode_payload(p) for p in fleet if f"{p['logGroup']}|{p['logStream']}" == doomed_key}
    for body in letters:   # the original payload, byte for byte, with why it failed
        assert body["awslogs"]["data"] in originals
        assert body["coldtrace"]["stage"] == "ship"
        assert "ProvisionedThroughputExceededException" in body["coldtrace"]["reason"]


def test_kinesis_event_source_reports_exactly_the_unshipped_records(moto_reset, fleet):
    arn = make_stream(moto_reset)
    dlq = make_queue(moto_reset)
    doomed_keys = {f"{p['logGroup']}|{p['logStream']}" for p in fleet[:3]}
    records = [{"eventSource": "aws:kinesis", "eventID": f"shardId-000000000000:{n}",
                "kinesis": {"sequenceNumber": f"{49650000000000000000000000 + n}", "partitionKey": "k",
                            "data": encode_payload(p)}} for n, p in enumerate(fleet)]
    records.append({"eventSource": "aws:kinesis", "kinesis": {"sequenceNumber": "7", "data": "bm90IGd6aXA="}})
    healed = False
    rule = lambda call, i, key, data: not healed and key in doomed_keys  # noqa: E731
    with ThrottlingProxy(moto_reset, rule) as proxy:
        fwd = forwarder(env_for(proxy.url, arn, dlq, COLDTRACE_MAX_ATTEMPTS="3"))
        result = fwd.handle({"Records": records}, Context())
        expected = [r["kinesis"]["sequenceNumber"] for r, p in zip(records, fleet)
                    if f"{p['logGroup']}|{p['logStream']}" in doomed_keys]
        assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == expected
        assert fwd.last_stats.dead_letters == 1          # the undecodable record, with its reason
        letter = orjson.loads(drain(moto_reset, dlq)[0]["Body"])
        assert letter["coldtrace"]["stage"] == "decode" and letter["awslogs"]["data"] == "bm90IGd6aXA="
        healed = True                                     # Lambda retries what was reported
        retry = [r for r in records if r["kinesis"]["sequenceNumber"] in expected]
        assert fwd.handle({"Records": retry}, Context()) == {"batchItemFailures": []}
    assert Counter(rec["id"] for _, rec in read_stream(moto_reset)) == Counter(event_ids(fleet))


def test_sqs_replay_ships_only_the_failed_events(moto_reset, fleet):
    """A partial failure dead-letters just the failed events; replaying the queue ships them."""
    arn = make_stream(moto_reset)
    dlq = make_queue(moto_reset)
    payload = max(fleet, key=lambda p: len(p["logEvents"]))
    victim = payload["logEvents"][len(payload["logEvents"]) // 2]["id"]
    healed = False
    rule = lambda call, i, key, data: not healed and victim.encode() in data  # noqa: E731
    with ThrottlingProxy(moto_reset, rule) as proxy:  # plain records: the rule finds the victim's line
        fwd = forwarder(env_for(proxy.url, arn, dlq, COLDTRACE_MAX_ATTEMPTS="2", COLDTRACE_MAX_RECORD_BYTES="2048",
                                COLDTRACE_COMPRESS="false"))
        fwd.handle(subscription_event(payload), Context())
        s = fwd.last_stats
        assert 0 < s.events_failed < s.events_in and s.dead_letters == 1
        messages = drain(moto_reset, dlq)
        failed_ids = orjson.loads(messages[0]["Body"])["coldtrace"]["event_ids"]
        assert victim in failed_ids and len(failed_ids) == s.events_failed
        healed = True
        sqs_event = {"Records": [{"eventSource": "aws:sqs", "messageId": "m-1", "body": messages[0]["Body"]},
                                 {"eventSource": "aws:sqs", "messageId": "m-2", "body": "{\"not\": \"a payload\"}"}]}
        assert fwd.handle(sqs_event, Context()) == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
        assert fwd.last_stats.events_shipped == len(failed_ids)
    assert Counter(rec["id"] for _, rec in read_stream(moto_reset)) == Counter(e["id"] for e in payload["logEvents"])


def test_unshippable_direct_invocation_without_dlq_raises_for_a_retry(moto_reset, fleet):
    fwd = forwarder(env_for(moto_reset, "no-such-stream"))
    with pytest.raises(ForwardingError, match="ResourceNotFoundException"):
        fwd.handle(subscription_event(fleet[0]), Context())
    dlq = make_queue(moto_reset)
    fwd = forwarder(env_for(moto_reset, "no-such-stream", dlq))
    assert fwd.handle(subscription_event(fleet[0]), Context())["dead_lettered"] == 1
    body = orjson.loads(drain(moto_reset, dlq)[0]["Body"])
    assert body["awslogs"]["data"] == encode_payload(fleet[0]) and "ResourceNotFound" in body["coldtrace"]["reason"]


def test_out_of_time_records_are_reported_not_lost(moto_reset, fleet):
    arn = make_stream(moto_reset)
    rule = lambda call, i, key, data: True  # noqa: E731  every attempt throttled
    with ThrottlingProxy(moto_reset, rule) as proxy:
        fwd = forwarder(env_for(proxy.url, arn, COLDTRACE_MAX_ATTEMPTS="100", COLDTRACE_BACKOFF_BASE_MS="50",
                                COLDTRACE_BACKOFF_CAP_MS="200", COLDTRACE_RESERVE_MS="0"))
        records = [{"eventSource": "aws:sqs", "messageId": f"m{n}", "body": orjson.dumps(subscription_event(p)).decode()}
                   for n, p in enumerate(fleet[:2])]
        # 5 s: room for retries even when the first call (client set-up, a loaded machine) takes seconds
        result = fwd.handle({"Records": records}, Context(remaining_ms=5000))
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ["m0", "m1"]
    assert fwd.last_stats.retries > 0 and fwd.last_stats.events_failed == fwd.last_stats.events_in


def test_redaction_key_comes_from_ssm_and_tags_are_keyed(moto_reset, fleet):
    arn = make_stream(moto_reset)
    client("ssm", moto_reset).put_parameter(Name="/coldtrace/redact-key", Value="k3y", Type="SecureString")
    payload = dict(fleet[0], logEvents=[{"id": "1", "timestamp": 1714557600000,
                                         "message": "[INFO]\tsignup from jane.doe@example.com with AKIAIOSFODNN7EXAMPLE\n"}])
    fwd = forwarder(env_for(moto_reset, arn, COLDTRACE_REDACT_KEY="ssm:/coldtrace/redact-key"))
    fwd.handle(subscription_event(payload), Context())
    fwd.handle(subscription_event(payload), Context())
    assert fwd.secrets.fetches == 1                      # cached across invocations
    tag = hmac.new(b"k3y", b"jane.doe@example.com", hashlib.sha256).hexdigest()[:12]
    messages = {rec["message"] for _, rec in read_stream(moto_reset)}
    assert messages == {f"[INFO]\tsignup from [REDACTED:email:{tag}] with [REDACTED:aws_access_key:"
                        f"{hmac.new(b'k3y', b'AKIAIOSFODNN7EXAMPLE', hashlib.sha256).hexdigest()[:12]}]\n"}
    assert fwd.last_stats.redacted == {"email": 1, "aws_access_key": 1}


def test_secret_cache_refreshes_after_its_ttl_and_serves_stale_on_errors(moto_reset):
    sm = client("secretsmanager", moto_reset)
    sm.create_secret(Name="coldtrace/webhook", SecretString="one")
    now = [0.0]
    cache = SecretCache(ttl_s=60, region=REGION, endpoint_url=moto_reset, clock=lambda: now[0])
    assert cache.get("secretsmanager:coldtrace/webhook") == "one"
    sm.put_secret_value(SecretId="coldtrace/webhook", SecretString="two")
    now[0] = 30
    assert cache.get("secretsmanager:coldtrace/webhook") == "one" and cache.fetches == 1
    now[0] = 61
    assert cache.get("secretsmanager:coldtrace/webhook") == "two" and cache.fetches == 2
    sm.delete_secret(SecretId="coldtrace/webhook", ForceDeleteWithoutRecovery=True)
    now[0] = 200
    assert cache.get("secretsmanager:coldtrace/webhook") == "two" and cache.stale_served == 1


def test_control_messages_are_acknowledged_and_dropped(moto_reset):
    arn = make_stream(moto_reset)
    control = {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
               "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": 0, "message": "CWL CONTROL MESSAGE"}]}
    fwd = forwarder(env_for(moto_reset, arn))
    assert fwd.handle(subscription_event(control), Context()) == {"shipped": 0, "dead_lettered": 0}
    assert fwd.last_stats.control_messages == 1 and read_stream(moto_reset) == []


def test_gzip_records_are_read_back_as_spool_files(moto_reset, fleet):
    """COLDTRACE_COMPRESS: each record is a gzip member of the spool format."""
    arn = make_stream(moto_reset)
    fwd = forwarder(env_for(moto_reset, arn, COLDTRACE_COMPRESS="true"))
    for payload in fleet:
        fwd.handle(subscription_event(payload), Context())
    kinesis = client("kinesis", moto_reset)
    got: list[str] = []
    for shard in kinesis.list_shards(StreamName="ingress")["Shards"]:
        it = kinesis.get_shard_iterator(StreamName="ingress", ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for rec in kinesis.get_records(ShardIterator=it)["Records"]:
            assert rec["Data"][:2] == b"\x1f\x8b"
            for batch in read_file(io.BytesIO(rec["Data"]), "kinesis"):
                got.extend(e.id for e in batch)
    assert Counter(got) == Counter(event_ids(fleet))


def test_raw_base64_payloads_in_sqs_bodies_are_accepted(moto_reset, fleet):
    arn = make_stream(moto_reset)
    fwd = forwarder(env_for(moto_reset, arn))
    body = base64.b64encode(gzip.compress(orjson.dumps(fleet[1]))).decode()
    assert fwd.handle({"Records": [{"eventSource": "aws:sqs", "messageId": "x", "body": body}]},
                      Context()) == {"batchItemFailures": []}
    assert len(read_stream(moto_reset)) == len(fleet[1]["logEvents"])
