"""The endless streaming graph, for runners that run unbounded pipelines (Flink, Dataflow, Prism).

    source ─▶ ParseLogEvents ─▶ BuildInvocationsStreaming (keyed state, event-time flush timer)
           │                          ├─▶ StitchTracesStreaming (keyed state, event-time gap timers)
           │                          └─▶ observations ─▶ WindowMetrics (1-minute windows,
           │                                                allowed lateness, emitted once)
           ├─▶ health (iterator age per read) ─▶ IteratorAgePerMinute
           └─▶ dead letters
    metric points ─▶ EvaluateAlarmsStreaming (keyed state, a timer per minute + lateness)
                        ─▶ NotifyAlarms (stdout, SNS, webhook; failed deliveries: dead letters)
    all ─▶ Elasticsearch (``--es-url``) and/or per-bundle local index shard files

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

from pipeline.model import INDEX_ALARMS, INDEX_DEADLETTER, INDEX_INVOCATIONS, INDEX_LOGS, INDEX_METRICS, INDEX_TRACES
from pipeline.sinks.index_files import WriteIndexFile, render_chunks
from pipeline.sources.files import split_dead_letters
from pipeline.streaming.config import StreamConfig, kinesis_stream

FNAPI_REFUSED = ("the streaming graph does not run on FnApiRunner (a batch runner: the event-time timers of "
                 "StitchTracesStreaming's second stage never fire there, so traces would be lost); run it on "
                 "BundleBasedDirectRunner in streaming mode locally, FlinkRunner or DataflowRunner in production, "
                 "or use the catch-up loop (coldtrace run --streaming --runner fnapi)")


def refuse_fnapi(p: beam.Pipeline) -> None:
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    if isinstance(p.runner, FnApiRunner):
        raise ValueError(FNAPI_REFUSED)


def read_source(p: beam.Pipeline, cfg: StreamConfig, bounded: bool = False, splittable: bool = True):
    """(batches, dead letters, health points or None) of the configured source."""
    r = cfg.run
    if cfg.kind == "kinesis":
        from pipeline.sources.kinesis import KinesisSpec, ReadKinesis

        spec = KinesisSpec(kinesis_stream(cfg.source), start=cfg.start, bounded=bounded, region=r.region,
                           endpoint_url=cfg.endpoint_url, account=r.account, delivery_delay_ms=cfg.delivery_delay_ms)
        out = p | "ReadKinesis" >> ReadKinesis(spec, io=cfg.kinesis_io, splittable=splittable)
        return out.batches, out.dead, out.health
    if cfg.kind == "files":
        from pipeline.sources.file_watch import WatchLogFiles, watch_pattern

        mixed = p | "WatchFiles" >> WatchLogFiles([watch_pattern(cfg.source)], max(cfg.poll_s, 1.0),
                                                  r.account, r.region, r.log_group)
        batches, dead = split_dead_letters(mixed, "Read")
        return batches, dead, None
    from pipeline.sources.cloudwatch import ReadCloudWatchLogs, parse_cloudwatch_uri

    group, start, end = parse_cloudwatch_uri(cfg.source)
    if start is None or end is None:
        raise ValueError("an endless cloudwatch:// read needs ?start=…&end=… (a backfill); for live logs, "
                         "subscribe the log groups to Kinesis and read kinesis://STREAM")
    batches = p | "ReadCloudWatchLogs" >> ReadCloudWatchLogs(group, start, end, account=r.account, region=r.region,
                                                             endpoint_url=cfg.endpoint_url)
    return batches, p | "NoDeadLetters" >> beam.Create([]), None


def build_streaming(p: beam.Pipeline, cfg: StreamConfig, bounded: bool = False, splittable: bool = True) -> dict:
    """Wire the streaming graph; returns its main PCollections by name (for tests and callers).

    ``bounded``: the Kinesis reader stops at every shard's tip; ``splittable=False`` reads with
    a plain DoFn per shard (bounded only), for BundleBasedDirectRunner. Raises ValueError on
    FnApiRunner (see the module docstring)."""
    refuse_fnapi(p)
    from pipeline.detect.invocation import observe_invocation
    from pipeline.detect.throttles import observe_throttles
    from pipeline.transforms.build_invocations import BuildInvocationsStreaming
    from pipeline.transforms.window_metrics import IteratorAgePerMinute, WindowMetrics
    from pipeline.transforms.parse_log_events import ParseLogEvents
    from pipeline.transforms.stitch_traces import StitchTracesStreaming
    from pipeline.transforms.evaluate_alarms import EvaluateAlarmsStreaming

    from pipeline.transforms.redact_lines import RedactLines

    r = cfg.run
    batches, dead, health = read_source(p, cfg, bounded, splittable)
    redactor = getattr(r, "redactor", None)
    batches = batches | "RedactLines" >> RedactLines(redactor)
    dead = dead | "RedactDeadLetters" >> RedactLines(redactor)
    parsed = batches | "ParseLogEvents" >> ParseLogEvents(r.correlation_paths)
    invocations = parsed | "BuildInvocations" >> BuildInvocationsStreaming(r.architectures)
    traces = invocations | "StitchTraces" >> StitchTracesStreaming(cfg.trace_gap_ms, cfg.trace_retention_ms)
    observations = ((invocations | "ObserveInvocations" >> beam.FlatMap(observe_invocation),
                     parsed | "ObserveThrottles" >> beam.FlatMap(observe_throttles))
                    | "Observations" >> beam.Flatten())
    metric_sets = [observations | "WindowMetrics" >> WindowMetrics(streaming=True, lateness_ms=cfg.lateness_ms)]
    if health is not None:
        metric_sets.append(health | "IteratorAgePerMinute" >> IteratorAgePerMinute(cfg.lateness_ms))
    if cfg.poll_metrics and cfg.metrics_functions:
        from pipeline.sources.cloudwatch import PollLambdaMetrics

        metric_sets.append(p | "PollLambdaMetrics" >> PollLambdaMetrics(
            list(cfg.metrics_functions), account=r.account, region=r.region, endpoint_url=cfg.endpoint_url))
    metrics = tuple(metric_sets) | "AllMetrics" >> beam.Flatten()
    alarm_cfg = r.alarms
    alarms = metrics | "EvaluateAlarms" >> EvaluateAlarmsStreaming(alarm_cfg.rules, cfg.lateness_ms)
    if alarm_cfg.notify.enabled:
        from pipeline.sinks.alarms import NotifyAlarms

        dead = (dead, alarms | "NotifyAlarms" >> NotifyAlarms(alarm_cfg.notify)) | "AllDeadLetters" >> beam.Flatten()

    out = r.out_dir
    parsed | "LogDocs" >> beam.FlatMap(lambda b: render_chunks(INDEX_LOGS, b)) | "WriteLogs" >> WriteIndexFile(out, INDEX_LOGS)
    (invocations | "InvocationDocs" >> beam.FlatMap(lambda i: render_chunks(INDEX_INVOCATIONS, [i]))
     | "WriteInvocations" >> WriteIndexFile(out, INDEX_INVOCATIONS))
    (traces | "TraceDocs" >> beam.FlatMap(lambda span: render_chunks(INDEX_TRACES, [span]))
     | "WriteTraces" >> WriteIndexFile(out, INDEX_TRACES))
    (metrics | "MetricDocs" >> beam.FlatMap(lambda m: render_chunks(INDEX_METRICS, [m]))
     | "WriteMetrics" >> WriteIndexFile(out, INDEX_METRICS))
    (alarms | "AlarmDocs" >> beam.FlatMap(lambda a: render_chunks(INDEX_ALARMS, [a]))
     | "WriteAlarms" >> WriteIndexFile(out, INDEX_ALARMS))
    (dead | "DeadLetterLines" >> beam.FlatMap(lambda d: render_chunks(INDEX_DEADLETTER, [d]))
     | "WriteDeadLetters" >> WriteIndexFile(out, INDEX_DEADLETTER))
    if r.es is not None:
        from pipeline.sinks.elasticsearch import WriteToElasticsearch

        parsed | "IndexLogs" >> WriteToElasticsearch(r.es, INDEX_LOGS)
        invocations | "IndexInvocations" >> WriteToElasticsearch(r.es, INDEX_INVOCATIONS)
        traces | "IndexTraces" >> WriteToElasticsearch(r.es, INDEX_TRACES)
        metrics | "IndexMetrics" >> WriteToElasticsearch(r.es, INDEX_METRICS)
        alarms | "IndexAlarms" >> WriteToElasticsearch(r.es, INDEX_ALARMS)
        dead | "IndexDeadLetters" >> WriteToElasticsearch(r.es, INDEX_DEADLETTER)
    return {"batches": parsed, "invocations": invocations, "traces": traces, "metrics": metrics, "alarms": alarms,
            "dead": dead}


LOCAL_RUNNERS = ("fnapi", "direct", "dask")


def run_endless(cfg: StreamConfig):
    """Submit the endless graph to a runner that runs unbounded pipelines (``--streaming`` is set);
    returns Beam's PipelineResult (Flink/Dataflow: the job keeps running after this returns
    unless the runner's options say to wait)."""
    from apache_beam.options.pipeline_options import StandardOptions

    from pipeline.run import pipeline_options

    if cfg.run.runner in LOCAL_RUNNERS:
        raise ValueError(f"runner {cfg.run.runner!r} cannot run an endless pipeline; "
                         "locally, streaming runs as catch-up reads (pipeline.streaming.catchup)")
    options = pipeline_options(cfg.run)
    options.view_as(StandardOptions).streaming = True
    p = beam.Pipeline(options=options)
    build_streaming(p, cfg)
    return p.run()
