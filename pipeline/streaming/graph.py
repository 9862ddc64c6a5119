"""The endless streaming graph, for runners that run unbounded pipelines (Flink, Dataflow, Prism).

The stages after the source are ``pipeline.graph.assemble`` — the same graph as the batch run
and the catch-up loop — in the stateful shell (``pipeline.graph.StatefulShell``): the fold in
keyed state with an event-time flush timer, traces by gap timers, one-minute windows that close
after the allowed lateness and then correct, alarms in keyed state with a timer per minute.
This module only chooses the source (and its own metric points: the reader's iterator age).

Sources: ``kinesis://STREAM`` (the native splittable DoFn, unbounded; or ``--kinesis-io java``),
a directory/glob/``s3://`` prefix (``fileio.MatchContinuously``), ``cloudwatch://`` with an end
(a bounded backfill; live CloudWatch logs arrive through a subscription to Kinesis instead).
``--poll-metrics`` adds the GetMetricData poller for ``--metrics-function`` functions.

The same graph runs locally too when its source is bounded (``KinesisSpec(bounded=True)``) on
BundleBasedDirectRunner in streaming mode, which runs it to the end — which is how the tests
run it unchanged. FnApiRunner is refused: it is a batch runner, and event-time timers of a
stateful stage fed by another timer stage never fire there (StitchTracesStreaming's two gap
stages emit nothing), so it would silently write no traces. Locally, streaming is the catch-up
loop (pipeline/streaming/catchup.py), which runs on FnApiRunner with the pure state carried.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from pipeline.graph import Sinks, SourceOut, StatefulShell, assemble
from pipeline.run import pipeline_options
from pipeline.sources.cloudwatch import PollLambdaMetrics, ReadCloudWatchLogs, parse_cloudwatch_uri
from pipeline.sources.file_watch import WatchLogFiles, watch_pattern
from pipeline.sources.files import split_dead_letters
from pipeline.sources.kinesis import KinesisSpec, ReadKinesis
from pipeline.streaming.config import StreamConfig, kinesis_stream
from pipeline.transforms.redact_lines import RedactLines
from pipeline.transforms.window_metrics import IteratorAgePerMinute

FNAPI_REFUSED = ("the streaming graph does not run on FnApiRunner (a batch runner: the event-time timers of "
                 "StitchTracesStreaming's second stage never fire there, so traces would be lost); run it on "
                 "BundleBasedDirectRunner in streaming mode locally, FlinkRunner or DataflowRunner in production, "
                 "or use the catch-up loop (coldtrace run --streaming --runner fnapi)")


def refuse_fnapi(p: beam.Pipeline) -> None:
    if isinstance(p.runner, FnApiRunner):
        raise ValueError(FNAPI_REFUSED)


def read_source(p: beam.Pipeline, cfg: StreamConfig, bounded: bool = False, splittable: bool = True) -> SourceOut:
    """The configured source, redacted: batches, dead letters, and its own metric points (the
    reader's iterator age per minute; GetMetricData with ``--poll-metrics``)."""
    r = cfg.run
    health = None
    if cfg.kind == "kinesis":
        spec = KinesisSpec(kinesis_stream(cfg.source), start=cfg.start, bounded=bounded, region=r.region,
                           endpoint_url=cfg.endpoint_url, account=r.account, delivery_delay_ms=cfg.delivery_delay_ms)
        out = p | "ReadKinesis" >> ReadKinesis(spec, io=cfg.kinesis_io, splittable=splittable)
        batches, dead, health = out.batches, out.dead, out.health
    elif cfg.kind == "files":
        mixed = p | "WatchFiles" >> WatchLogFiles([watch_pattern(cfg.source)], max(cfg.poll_s, 1.0),
                                                  r.account, r.region, r.log_group)
        batches, dead = split_dead_letters(mixed, "Read")
    else:
        group, start, end = parse_cloudwatch_uri(cfg.source)
        if start is None or end is None:
            raise ValueError("an endless cloudwatch:// read needs ?start=…&end=… (a backfill); for live logs, "
                             "subscribe the log groups to Kinesis and read kinesis://STREAM")
        batches = p | "ReadCloudWatchLogs" >> ReadCloudWatchLogs(group, start, end, account=r.account,
                                                                 region=r.region, endpoint_url=cfg.endpoint_url)
        dead = None
    source = SourceOut(batches | "RedactLines" >> RedactLines(r.redactor))
    if dead is not None:
        source.dead.append(dead | "RedactDeadLetters" >> RedactLines(r.redactor))
    if health is not None:
        source.points.append(health | "IteratorAgePerMinute" >> IteratorAgePerMinute(cfg.lateness_ms))
    if cfg.poll_metrics and cfg.metrics_functions:
        source.points.append(p | "PollLambdaMetrics" >> PollLambdaMetrics(
            list(cfg.metrics_functions), account=r.account, region=r.region, endpoint_url=cfg.endpoint_url))
    return source


def build_streaming(p: beam.Pipeline, cfg: StreamConfig, bounded: bool = False, splittable: bool = True) -> dict:
    """Wire the streaming graph: the source, the graph (``pipeline.graph``) in the stateful
    shell; returns its main PCollections by name (for tests and callers).

    ``bounded``: the Kinesis reader stops at every shard's tip; ``splittable=False`` reads with
    a plain DoFn per shard (bounded only), for BundleBasedDirectRunner. Raises ValueError on
    FnApiRunner (see the module docstring)."""
    refuse_fnapi(p)
    r = cfg.run
    shell = StatefulShell(r.architectures, r.correlation_paths, r.alarms.rules, cfg.lateness_ms,
                          cfg.trace_gap_ms, cfg.trace_retention_ms)
    graph = assemble(p, read_source(p, cfg, bounded, splittable), shell,
                     Sinks(r.out_dir, r.es, r.otlp, r.alarms.notify, r.alarms.advice_alarms))
    graph.finish()
    return {"batches": graph.logs, "invocations": graph.invocations, "traces": graph.traces, "metrics": graph.points,
            "alarms": graph.alarms, "dead": graph.dead}


LOCAL_RUNNERS = ("fnapi", "direct", "dask")


def run_endless(cfg: StreamConfig):
    """Submit the endless graph to a runner that runs unbounded pipelines (``--streaming`` is set);
    returns Beam's PipelineResult (Flink/Dataflow: the job keeps running after this returns
    unless the runner's options say to wait)."""
    if cfg.run.runner in LOCAL_RUNNERS:
        raise ValueError(f"runner {cfg.run.runner!r} cannot run an endless pipeline; "
                         "locally, streaming runs as catch-up reads (pipeline.streaming.catchup)")
    options = pipeline_options(cfg.run)
    options.view_as(StandardOptions).streaming = True
    p = beam.Pipeline(options=options)
    build_streaming(p, cfg)
    return p.run()
