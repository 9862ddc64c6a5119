"""``coldtrace run --streaming`` writes traces and alarms, and notifies each transition once.

A simulated fleet with an error burst is delivered to a spool directory in two parts, read by
two streaming runs (the second resumes from the first's checkpoint, then drains). What the
streaming runs index must be what one batch run over the same files indexes: the same alarm
transitions, the same traces (the last version of each re-emitted one). Every transition is
posted to a local webhook exactly once across both runs, and Elasticsearch holds the latest
version of every trace document.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import apache_beam as beam
import boto3
import orjson
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from forwarder.handler import Forwarder
from forwarder.settings import Settings
from pipeline.cli import main
from pipeline.local_index import index_path, latest_docs, read_index
from pipeline.model import INDEX_ALARMS, INDEX_METRICS, INDEX_TRACES
from pipeline.run import RunConfig
from pipeline.sinks.alarms import AlarmSettings
from pipeline.sinks.es_client import EsSettings, resolved
from pipeline.sinks.es_setup import setup
from pipeline.sinks.index_files import join_index_shards
from pipeline.sources.incidents import Incident
from pipeline.sources.kinesis_shards import StartPosition
from pipeline.sources.simulate import FleetConfig, encode_payload, simulate
from pipeline.streaming.catchup import CatchUp
from pipeline.streaming.config import StreamConfig
from pipeline.streaming.graph import build_streaming
from pipeline.transforms.metrics_and_alarms import AlarmConfig
from tests.integration.es_support import es, refresh, reset_coldtrace
from tests.integration.test_alarm_sinks import Hook

MIN = 60_000
CUT_MIN = 8


@pytest.fixture()
def hook():
    h = Hook()
    yield h
    h.close()


def write_payloads(path: Path, payloads: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps({"awslogs": {"data": encode_payload(p)}}) + b"\n" for p in payloads))


def transitions(out: Path) -> list[tuple]:
    docs = latest_docs(index_path(str(out), INDEX_ALARMS)).values()
    return sorted((d["faas.name"], d["rule.name"], d["coldtrace.alarm.state"], d["event.start"]) for d in docs)


def posted(hook: Hook) -> list[tuple]:
    return sorted((m["attachments"][0]["fields"][0]["value"], m["attachments"][0]["fields"][1]["value"],
                   m["text"].split("*")[1]) for m in hook.received)


def test_streaming_traces_and_alarms_match_batch_and_each_transition_is_notified_once(
        es_url, hook, tmp_path, monkeypatch):
    now = int(time.time() * 1000)
    start = now - now % MIN - 40 * MIN
    payloads, truth = simulate(FleetConfig(seed=43, functions=3, minutes=12, invocations_per_minute=20, files=1,
                                           start_ms=start,
                                           incidents=(Incident("error_burst", "orders-api", 2, 6),)))
    payloads = [p for p in payloads if p["messageType"] == "DATA_MESSAGE"]
    cut = start + CUT_MIN * MIN
    early = [p for p in payloads if max(e["timestamp"] for e in p["logEvents"]) < cut]
    spool, out, batch = tmp_path / "spool", tmp_path / "out", tmp_path / "batch"
    write_payloads(spool / "a.ndjson", early)
    write_payloads(spool / "b.ndjson", [p for p in payloads if p not in early])

    # the batch reference, over the same files
    assert main(["run", "-q", "--no-report", "--input", str(spool / "*.ndjson"), "--out", str(batch)]) == 0
    want = transitions(batch)
    assert ("orders-api", "error-rate", "ALARM") in {t[:3] for t in want}
    assert ("orders-api", "error-rate", "OK") in {t[:3] for t in want}

    reset_coldtrace(es_url)
    monkeypatch.setenv("COLDTRACE_TEST_HOOK", hook.url)
    common = ["run", "-q", "--no-report", "--streaming", "--poll", "0", "--out", str(out), "--es-url", es_url,
              "--allowed-lateness", "60", "--webhook-url-env", "COLDTRACE_TEST_HOOK"]
    (spool / "b.ndjson").rename(tmp_path / "b.ndjson")       # the second part arrives later
    assert main([*common, "--input", str(spool), "--max-rounds", "2"]) == 0
    first = posted(hook)
    assert ("orders-api", "error-rate", "ALARM") in first           # raised while the fleet was still logging
    (tmp_path / "b.ndjson").rename(spool / "b.ndjson")
    assert main([*common, "--input", str(spool), "--until-caught-up", "--drain"]) == 0

    assert transitions(out) == want
    assert posted(hook) == sorted(t[:3] for t in want)             # each once, across both runs
    summary = orjson.loads((out / "summary.json").read_bytes())
    totals = summary["streaming"]["totals"]
    assert totals.get("late_metric_points", 0) == 0 and totals["late_dropped"] == 0
    assert summary["documents"][INDEX_ALARMS] == len(want) and totals["notifications_failed"] == 0

    spans = latest_docs(index_path(str(out), INDEX_TRACES))
    assert spans == latest_docs(index_path(str(batch), INDEX_TRACES))
    traced = {i["request_id"] for i in truth["invocations"] if i["xray_trace_id"]}
    assert traced <= {d.get("faas.execution") for d in spans.values()}

    refresh(es_url)
    stored = {h["_id"]: h["_source"] for h in es(es_url, "POST", f"/{INDEX_TRACES}/_search",
                                                 {"size": 10000, "query": {"match_all": {}}})["hits"]["hits"]}
    assert stored == spans                                           # re-emitted roots replaced, not kept old
    alarm_ids = {h["_id"] for h in es(es_url, "POST", f"/{INDEX_ALARMS}/_search",
                                      {"size": 1000, "query": {"match_all": {}}})["hits"]["hits"]}
    assert alarm_ids == set(latest_docs(index_path(str(out), INDEX_ALARMS)))


# -- a late member: the trace is re-emitted with the same ids, and replaces itself in Elasticsearch --
X1 = "1-663212a0-a034d9eb42d9b30724dfa411"
STREAM = "2024/05/01/[$LATEST]0225597e48f74a659916f0e482df5b92"


def invocation_payload(fn: str, n: int, at_ms: int, xray: str | None) -> dict:
    rid = f"00000000-0000-4000-8000-{n:012d}"
    report = (f"REPORT RequestId: {rid}\tDuration: 100.0 ms\tBilled Duration: 100 ms\tMemory Size: 128 MB\t"
              f"Max Memory Used: 60 MB\t\n")
    if xray:
        report += f"XRAY TraceId: {xray}\tSegmentId: {n:016x}\tSampled: true\t\n"
    lines = [f"START RequestId: {rid} Version: $LATEST\n", f"END RequestId: {rid}\n", report]
    return {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": f"/aws/lambda/{fn}",
            "logStream": STREAM, "subscriptionFilters": ["f"],
            "logEvents": [{"id": f"{n:08d}{i}", "timestamp": at_ms + 50 * i, "message": m}
                          for i, m in enumerate(lines)]}


def test_a_late_member_re_emits_its_trace_with_the_same_ids_locally_and_in_elasticsearch(es_url, tmp_path):
    reset_coldtrace(es_url)
    settings = resolved(EsSettings(url=es_url))
    setup(settings)
    now = int(time.time() * 1000)
    t0 = now - now % MIN - 60 * MIN
    spool, out = tmp_path / "spool", tmp_path / "out"
    write_payloads(spool / "a.ndjson", [invocation_payload("api", 1, t0, X1), invocation_payload("orders", 2, t0 + 1_000, X1),
                                        invocation_payload("clock", 3, t0 + 20 * MIN, None)])   # moves the watermark
    cfg = StreamConfig(str(spool), RunConfig(inputs=[], out_dir=str(out), es=settings), delivery_delay_ms=0,
                       lateness_ms=0, poll_s=0, trace_gap_ms=MIN)
    loop = CatchUp(cfg)
    loop.step()                       # reads a: the watermark moves to t0 + 20 min
    loop.step()                       # the trace has been silent for its gap: emitted
    path = index_path(str(out), INDEX_TRACES)
    first = latest_docs(path)
    assert {d["faas.execution"][-1] for d in first.values()} == {"1", "2"}
    write_payloads(spool / "b.ndjson", [invocation_payload("notifications", 4, t0 + 2_000, X1)])
    loop.step()                       # the late member joins within the retention: re-emitted
    latest = latest_docs(path)
    assert sum(1 for _ in read_index(path)) == len(first) + len(latest) == 5
    assert set(first) < set(latest)   # the same ids, and the new member's span
    (root_id,) = [i for i, d in latest.items() if "coldtrace.trace.invocations" in d]
    assert first[root_id]["coldtrace.trace.invocations"] == 2 and latest[root_id]["coldtrace.trace.invocations"] == 3
    assert loop.ck.totals["late_dropped"] == 0     # its minute had closed, within the correction: counted
    minute = [d for d in latest_docs(index_path(str(out), INDEX_METRICS)).values()
              if d["faas.name"] == "notifications" and d["aws.lambda.metrics.invocations"]]
    assert len(minute) == 1 and minute[0]["@timestamp"].startswith(time.strftime("%Y-%m-%dT%H:%M", time.gmtime(t0 / 1000)))
    refresh(es_url)
    hits = es(es_url, "POST", f"/{INDEX_TRACES}/_search", {"size": 100, "query": {"match_all": {}}})["hits"]["hits"]
    assert {h["_id"]: h["_source"] for h in hits} == latest


def test_streaming_refuses_batch_only_options_and_fnapi_for_the_endless_graph(tmp_path, capsys):
    spool = tmp_path / "spool"
    spool.mkdir()
    base = ["run", "-q", "--streaming", "--input", str(spool), "--out", str(tmp_path / "out")]
    assert main([*base, "--metrics-input", str(spool)]) == 2
    assert main([*base, "--rules", str(tmp_path / "missing.yaml")]) == 2
    assert main([*base, "--runner", "apache_beam.runners.portability.fn_api_runner.FnApiRunner"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "--poll-metrics" in err[0] and "--rules" in err[1]
    assert "BundleBasedDirectRunner" in err[2] and "catch-up" in err[2]


# -- the endless graph: alarms in keyed state, indexed and notified ------------------------------------
def test_the_endless_graph_raises_indexes_and_notifies_the_batch_alarms(moto_kinesis, hook, tmp_path):
    region = "eu-west-1"

    class Context:
        invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:coldtrace-forwarder"

        def get_remaining_time_in_millis(self) -> int:
            return 60_000

    now = int(time.time() * 1000)
    payloads, truth = simulate(FleetConfig(seed=43, functions=3, minutes=12, invocations_per_minute=20, files=1,
                                           start_ms=now - now % MIN - 40 * MIN,
                                           incidents=(Incident("error_burst", "orders-api", 2, 6),)))
    boto3.client("kinesis", region_name=region, endpoint_url=moto_kinesis).create_stream(StreamName="s", ShardCount=1)
    fwd = Forwarder(Settings.from_env({"COLDTRACE_STREAM": "s", "AWS_REGION": region, "AWS_ENDPOINT_URL": moto_kinesis,
                                       "COLDTRACE_METRICS": "false", "COLDTRACE_COMPRESS": "true"}), out=io.BytesIO())
    for payload in payloads:
        fwd.handle({"awslogs": {"data": encode_payload(payload)}}, Context())
    out = tmp_path / "out"
    run = RunConfig(inputs=[], out_dir=str(out), region=region,
                    alarms=AlarmConfig(notify=AlarmSettings(webhook_url=hook.url)))
    cfg = StreamConfig("kinesis://s", run, start=StartPosition("TRIM_HORIZON"), endpoint_url=moto_kinesis)
    opts = PipelineOptions(["--runner=BundleBasedDirectRunner"])
    opts.view_as(StandardOptions).streaming = True
    with beam.Pipeline(options=opts) as p:
        build_streaming(p, cfg, bounded=True, splittable=False)
    join_index_shards(str(out), [INDEX_ALARMS])
    got = transitions(out)
    # (at the end of a bounded read the watermark jumps to infinity: rules whose data stopped,
    # such as the pipeline's own iterator age, may go INSUFFICIENT_DATA)
    raised = [t for t in got if t[2] != "INSUFFICIENT_DATA"]
    assert [t[:3] for t in raised] == [("orders-api", "error-rate", "ALARM"), ("orders-api", "error-rate", "OK")]
    expected = sorted((e["function"], e["rule"], e["state"]) for e in truth["expected_alarms"])
    assert [t[:3] for t in raised] == expected
    assert posted(hook) == sorted(t[:3] for t in got)
