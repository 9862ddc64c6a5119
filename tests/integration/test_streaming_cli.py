"""``coldtrace run --streaming`` on every source, against moto's server on 127.0.0.1:
Kinesis, a spool directory, an S3 prefix, a CloudWatch Logs backfill, and the GetMetricData
poller (throttles leave no log line: the poller is how they are seen)."""

from __future__ import annotations

import io
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import boto3
import orjson
import pytest

from forwarder.handler import Forwarder
from forwarder.settings import Settings
from pipeline.cli import main
from pipeline.local_index import doc_id_of, index_path, read_index
from pipeline.model import INDEX_INVOCATIONS, INDEX_LOGS, INDEX_METRICS
from pipeline.sources.simulate import FleetConfig, encode_payload, simulate
from tests.integration.es_support import count, ids, refresh, reset_coldtrace

REGION = "eu-west-1"


class Context:
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:coldtrace-forwarder"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture(scope="module")
def fleet():
    payloads, truth = simulate(FleetConfig(seed=41, functions=4, minutes=2, invocations_per_minute=15, files=1,
                                           start_ms=int(time.time() * 1000) - 4 * 60_000))
    return [p for p in payloads if p["messageType"] == "DATA_MESSAGE"], truth


def docs(out: Path, index: str) -> list[dict]:
    path = index_path(str(out), index)
    return [d for _, d in read_index(path)] if Path(path).exists() else []


def request_ids(out: Path) -> Counter:
    return Counter(d["faas.execution"] for d in docs(out, INDEX_INVOCATIONS))


def run(*argv: str) -> int:
    return main(["run", "-q", *argv])


@pytest.mark.parametrize("runner", ["fnapi", "direct"])
def test_kinesis_stream_until_caught_up_then_drained(moto_kinesis, fleet, tmp_path, runner):
    payloads, truth = fleet
    boto3.client("kinesis", region_name=REGION, endpoint_url=moto_kinesis).create_stream(StreamName="s", ShardCount=2)
    fwd = Forwarder(Settings.from_env({"COLDTRACE_STREAM": "s", "AWS_REGION": REGION, "AWS_ENDPOINT_URL": moto_kinesis,
                                       "COLDTRACE_METRICS": "false"}), out=io.BytesIO())
    for p in payloads:
        fwd.handle({"awslogs": {"data": encode_payload(p)}}, Context())
    out = tmp_path / "out"
    assert run("--streaming", "--input", "kinesis://s", "--start-position", "trim_horizon", "--endpoint-url",
               moto_kinesis, "--region", REGION, "--until-caught-up", "--drain", "--poll", "0.1", "--out", str(out),
               "--runner", runner) == 0
    ids = request_ids(out)
    assert set(ids) == {i["request_id"] for i in truth["invocations"]} and max(ids.values()) == 1
    summary = orjson.loads((out / "summary.json").read_bytes())
    totals = summary["streaming"]["totals"]
    assert totals["invocations"] == len(truth["invocations"])
    assert totals["events_read"] == totals["logs"] + totals["duplicates"] and totals["logs"] == truth["events"]
    assert summary["streaming"]["watermark_ms"] is not None
    ages = [d for d in docs(out, INDEX_METRICS) if d["faas.name"] == "coldtrace-pipeline"]
    assert ages and "aws.lambda.metrics.iterator_age_max_ms" in ages[0]


def write_payloads(directory: Path, payloads: list[dict], name: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(b"".join(orjson.dumps({"awslogs": {"data": encode_payload(p)}}) + b"\n"
                                            for p in payloads))


def test_a_watched_directory_reads_each_new_file_once_across_runs(fleet, tmp_path):
    payloads, truth = fleet
    spool, out = tmp_path / "spool", tmp_path / "out"
    half = len(payloads) // 2
    write_payloads(spool, payloads[:half], "a.ndjson")
    (spool / "c.ndjson.tmp").write_bytes(b"being written")          # not complete yet: skipped
    assert run("--streaming", "--input", str(spool), "--max-rounds", "1", "--out", str(out)) == 0
    first = sum(request_ids(out).values())
    write_payloads(spool, payloads[half:], "b.ndjson")
    assert run("--streaming", "--input", str(spool), "--until-caught-up", "--drain", "--poll", "0",
               "--out", str(out)) == 0
    ids = request_ids(out)
    assert 0 < first < len(truth["invocations"])
    assert set(ids) == {i["request_id"] for i in truth["invocations"]} and max(ids.values()) == 1
    checkpoint = orjson.loads((out / "checkpoint" / "checkpoint.json").read_bytes())
    assert sorted(Path(p).name for p in checkpoint["seen_files"]) == ["a.ndjson", "b.ndjson"]


def test_an_s3_prefix_is_watched_through_beams_filesystem(moto_reset, fleet, tmp_path):
    payloads, truth = fleet
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_reset)
    s3.create_bucket(Bucket="deliveries", CreateBucketConfiguration={"LocationConstraint": REGION})
    for n in range(0, len(payloads), 10):
        body = b"".join(orjson.dumps({"awslogs": {"data": encode_payload(p)}}) + b"\n" for p in payloads[n:n + 10])
        s3.put_object(Bucket="deliveries", Key=f"firehose/2024/05/01/part-{n:04d}.ndjson", Body=body)
    out = tmp_path / "out"
    assert run("--streaming", "--input", "s3://deliveries/firehose/", "--until-caught-up", "--drain", "--poll", "0",
               "--out", str(out), "--", f"--s3_endpoint_url={moto_reset}", "--s3_access_key_id=testing",
               "--s3_secret_access_key=testing", f"--s3_region_name={REGION}") == 0
    ids = request_ids(out)
    assert set(ids) == {i["request_id"] for i in truth["invocations"]} and max(ids.values()) == 1


def test_cloudwatch_backfill_over_filter_log_events(moto_reset, fleet, tmp_path):
    payloads, truth = fleet
    logs = boto3.client("logs", region_name=REGION, endpoint_url=moto_reset)
    sent: dict[str, set[str]] = {}
    logged: set[str] = set()     # a payload CloudWatch delivered twice was still logged once
    for p in payloads:
        group, stream = p["logGroup"], p["logStream"]
        if group not in sent:
            logs.create_log_group(logGroupName=group)
            sent[group] = set()
        if stream not in sent[group]:
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
            sent[group].add(stream)
        fresh = [e for e in p["logEvents"] if e["id"] not in logged]
        logged.update(e["id"] for e in fresh)
        if fresh:
            logs.put_log_events(logGroupName=group, logStreamName=stream,
                                logEvents=[{"timestamp": e["timestamp"], "message": e["message"]} for e in fresh])
    start = truth["config"]["start_ms"] - 60_000
    end = int(time.time() * 1000)
    out = tmp_path / "out"
    assert run("--input", f"cloudwatch:///aws/lambda/*?start={start}&end={end}", "--endpoint-url", moto_reset,
               "--region", REGION, "--out", str(out)) == 0
    ids = request_ids(out)
    assert set(ids) == {i["request_id"] for i in truth["invocations"]} and max(ids.values()) == 1
    lines = docs(out, INDEX_LOGS)
    assert len(lines) == len({d["event.id"] for d in lines}) == len(logged)


def test_get_metric_data_poller_sees_throttles_that_left_no_log_line(moto_kinesis, tmp_path):
    kinesis = boto3.client("kinesis", region_name=REGION, endpoint_url=moto_kinesis)
    kinesis.create_stream(StreamName="s", ShardCount=1)
    cw = boto3.client("cloudwatch", region_name=REGION, endpoint_url=moto_kinesis)
    now = int(time.time() * 1000)
    minute = now - now % 60_000 - 120_000
    at = datetime.fromtimestamp((minute + 5_000) / 1000, tz=timezone.utc)
    dims = [{"Name": "FunctionName", "Value": "orders"}]
    cw.put_metric_data(Namespace="AWS/Lambda", MetricData=[
        {"MetricName": "Throttles", "Dimensions": dims, "Timestamp": at, "Value": 7, "Unit": "Count"},
        {"MetricName": "Throttles", "Dimensions": dims, "Timestamp": at, "Value": 5, "Unit": "Count"},
        {"MetricName": "ConcurrentExecutions", "Dimensions": dims, "Timestamp": at, "Value": 40, "Unit": "Count"},
        {"MetricName": "IteratorAge", "Dimensions": dims, "Timestamp": at, "Value": 1500, "Unit": "Milliseconds"}])
    out = tmp_path / "out"
    assert run("--streaming", "--input", "kinesis://s", "--endpoint-url", moto_kinesis, "--region", REGION,
               "--max-rounds", "1", "--poll-metrics", "--metrics-function", "orders", "--out", str(out)) == 0
    points = [d for d in docs(out, INDEX_METRICS) if d["coldtrace.metrics.source"] == "cloudwatch"]
    assert len(points) == 1
    p = points[0]
    assert p["faas.name"] == "orders" and p["@timestamp"].startswith(
        datetime.fromtimestamp(minute / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M"))
    assert p["aws.lambda.metrics.throttles"] == 12 and p["aws.lambda.metrics.max_concurrency"] == 40
    assert p["aws.lambda.metrics.iterator_age_max_ms"] == 1500


def test_bad_streaming_usage_is_one_line(tmp_path, capsys):
    assert run("--streaming", "--input", "kinesis://a", "--input", "kinesis://b", "--out", str(tmp_path)) == 2
    assert run("--streaming", "--input", "kinesis://a", "--start-position", "yesterday", "--out", str(tmp_path)) == 2
    assert run("--streaming", "--input", "kinesis://a", "--runner", "dask", "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "exactly one --input" in err[0] and "--start-position" in err[1] and "fnapi or direct" in err[2]


def test_streaming_reads_are_redacted_unless_told_not_to(tmp_path):
    payload = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/orders",
               "logStream": "2024/05/01/[$LATEST]0225597e48f74a659916f0e482df5b92", "subscriptionFilters": ["f"],
               "logEvents": [{"id": "1", "timestamp": 1714557600000,
                              "message": "order placed by jane.doe@example.com with key AKIAIOSFODNN7EXAMPLE\n"}]}
    for flag, expect in (([], False), (["--no-redact"], True)):
        spool, out = tmp_path / f"spool{len(flag)}", tmp_path / f"out{len(flag)}"
        write_payloads(spool, [payload], "a.ndjson")
        assert run("--streaming", "--input", str(spool), "--until-caught-up", "--poll", "0", "--out", str(out), *flag) == 0
        (line,) = docs(out, INDEX_LOGS)
        assert ("jane.doe@example.com" in line["message"]) is expect
        assert ("AKIAIOSFODNN7EXAMPLE" in line["message"]) is expect
        assert ("[REDACTED:email]" in line["message"]) is not expect


def test_streaming_indexes_into_elasticsearch_what_it_writes_locally(es_url, fleet, tmp_path):
    payloads, truth = fleet
    reset_coldtrace(es_url)
    spool, out = tmp_path / "spool", tmp_path / "out"
    write_payloads(spool, payloads[: len(payloads) // 2], "a.ndjson")
    assert run("--streaming", "--input", str(spool), "--max-rounds", "1", "--out", str(out), "--es-url", es_url) == 0
    write_payloads(spool, payloads[len(payloads) // 2:], "b.ndjson")
    assert run("--streaming", "--input", str(spool), "--until-caught-up", "--drain", "--poll", "0", "--out", str(out),
               "--es-url", es_url) == 0
    refresh(es_url)
    for index in (INDEX_LOGS, INDEX_INVOCATIONS, INDEX_METRICS):
        local = {doc_id_of(a) for a, _ in read_index(index_path(str(out), index))}  # metrics: corrected ones too
        assert local and sorted(ids(es_url, index)) == sorted(local), index
    assert count(es_url, INDEX_INVOCATIONS) == len(truth["invocations"])
