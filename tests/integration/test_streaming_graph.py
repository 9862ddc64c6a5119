"""The endless streaming graph (the one FlinkRunner/DataflowRunner run) on a local runner.

With its source bounded (every shard read to its tip) the graph runs unchanged on
BundleBasedDirectRunner in streaming mode: stateful fold with event-time timers, one-minute
windows with allowed lateness, traces stitched by gap timers, per-bundle index shards.
FnApiRunner is refused (chained event-time timer stages never fire there). Unbounded, it must translate to a portable pipeline
whose read is unbounded and whose grouping is all windowed (what a streaming runner accepts).
"""

from __future__ import annotations

import io
import time
from collections import Counter

import apache_beam as beam
import boto3
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from forwarder.handler import Forwarder
from forwarder.settings import Settings
from pipeline.local_index import index_path, read_index
from pipeline.model import INDEX_INVOCATIONS, INDEX_METRICS, INDEX_TRACES
from pipeline.run import RunConfig
from pipeline.sinks.index_files import join_index_shards
from pipeline.sources.kinesis_shards import StartPosition
from pipeline.sources.simulate import FleetConfig, encode_payload, simulate
from pipeline.streaming.config import StreamConfig
from pipeline.streaming.graph import build_streaming, run_endless

REGION = "eu-west-1"


class Context:
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:coldtrace-forwarder"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture()
def shipped(moto_kinesis):
    start = int(time.time() * 1000) - 5 * 60_000
    payloads, truth = simulate(FleetConfig(seed=31, functions=5, minutes=2, invocations_per_minute=20, files=1,
                                           start_ms=start))
    boto3.client("kinesis", region_name=REGION, endpoint_url=moto_kinesis).create_stream(StreamName="s", ShardCount=2)
    fwd = Forwarder(Settings.from_env({"COLDTRACE_STREAM": "s", "AWS_REGION": REGION, "AWS_ENDPOINT_URL": moto_kinesis,
                                       "COLDTRACE_METRICS": "false", "COLDTRACE_COMPRESS": "true"}), out=io.BytesIO())
    for payload in payloads:
        fwd.handle({"awslogs": {"data": encode_payload(payload)}}, Context())
    return moto_kinesis, truth


def config(endpoint: str, out) -> StreamConfig:
    return StreamConfig("kinesis://s", RunConfig(inputs=[], out_dir=str(out), region=REGION),
                        start=StartPosition("TRIM_HORIZON"), endpoint_url=endpoint)


def direct_streaming() -> PipelineOptions:
    opts = PipelineOptions(["--runner=BundleBasedDirectRunner"])
    opts.view_as(StandardOptions).streaming = True
    return opts


def test_the_streaming_graph_runs_unchanged_with_a_bounded_source(shipped, tmp_path):
    """DirectRunner in streaming mode (the reader as a plain DoFn per shard: that runner cannot
    expand a splittable DoFn; the catch-up loop's tests run the splittable DoFn on FnApiRunner)."""
    endpoint, truth = shipped
    with beam.Pipeline(options=direct_streaming()) as p:
        build_streaming(p, config(endpoint, tmp_path), bounded=True, splittable=False)
    join_index_shards(str(tmp_path), [INDEX_INVOCATIONS, INDEX_METRICS, INDEX_TRACES])
    invocations = [d for _, d in read_index(index_path(str(tmp_path), INDEX_INVOCATIONS))]
    got = Counter(d["faas.execution"] for d in invocations)
    assert set(got) == {inv["request_id"] for inv in truth["invocations"]} and max(got.values()) == 1
    outcomes = Counter(d["aws.lambda.outcome"] for d in invocations)
    assert outcomes == Counter(inv["outcome"] for inv in truth["invocations"])
    metrics = [d for _, d in read_index(index_path(str(tmp_path), INDEX_METRICS))]
    logs_points = [d for d in metrics if d["coldtrace.metrics.source"] == "logs"]
    assert sum(d["aws.lambda.metrics.invocations"] for d in logs_points) == len(truth["invocations"])
    assert len({(d["faas.name"], d.get("faas.version"), d["@timestamp"]) for d in logs_points}) == len(logs_points)
    assert any(d["faas.name"] == "coldtrace-pipeline" for d in metrics)
    spans = [d for _, d in read_index(index_path(str(tmp_path), INDEX_TRACES))]
    traced = {inv["request_id"] for inv in truth["invocations"] if inv["xray_trace_id"]}
    assert traced and traced <= {d.get("faas.execution") for d in spans}


def test_fnapi_runner_is_refused_for_the_streaming_graph_with_the_reason(tmp_path):
    with pytest.raises(ValueError, match="BundleBasedDirectRunner.*catch-up"):
        build_streaming(beam.Pipeline(runner=FnApiRunner()), config("http://127.0.0.1:9", tmp_path), bounded=True)


def test_the_endless_graph_translates_to_an_unbounded_portable_pipeline(tmp_path):
    opts = PipelineOptions([])
    opts.view_as(StandardOptions).streaming = True
    p = beam.Pipeline(options=opts)
    build_streaming(p, config("http://127.0.0.1:9", tmp_path))
    proto = p.to_runner_api()
    unbounded = {pc.unique_name for pc in proto.components.pcollections.values()
                 if pc.is_bounded == beam_runner_api_pb2.IsBounded.UNBOUNDED}
    assert any("ReadShards" in name for name in unbounded)
    assert any("BuildInvocations" in name for name in unbounded)


def test_local_runners_are_refused_for_the_endless_graph(tmp_path):
    with pytest.raises(ValueError, match="catch-up"):
        run_endless(config("http://127.0.0.1:9", tmp_path))
