"""``coldtrace run --streaming``: options and the run (kept here, next to the batch command).

Locally (``--runner fnapi``, ``direct`` or ``dask``) the pipeline runs as catch-up reads that
repeat from a checkpoint in ``<out>/checkpoint`` (pipeline/streaming/catchup.py); with a runner
that runs endless pipelines (FlinkRunner, DataflowRunner, PrismRunner, or a class name) the
endless graph is submitted to it (pipeline/streaming/graph.py), with Beam options after ``--``.
``kinesis://`` and ``cloudwatch://`` inputs without ``--streaming`` read once to the end of
what is there, then flush.
"""

from __future__ import annotations

import argparse
import os
import sys

import orjson

from pipeline.commands.alarm_options import alarm_config
from pipeline.commands.run_config import run_config, write_report
from pipeline.errors import UsageError
from pipeline.model import iso_ms
from pipeline.render import print_summary
from pipeline.sources.aws_retry import exhausted_in
from pipeline.sources.kinesis_shards import StartPosition
from pipeline.streaming.catchup import CatchUp
from pipeline.streaming.config import StreamConfig
from pipeline.streaming.graph import LOCAL_RUNNERS, run_endless
from pipeline.streaming.out_lock import hold_out_lock
from pipeline.summary import summarize_out

STREAM_SCHEMES = ("kinesis://", "cloudwatch://")


def add_stream_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("streaming (--streaming; inputs kinesis://STREAM, cloudwatch://LOG_GROUP?start=…&end=…, "
                             "a directory, glob or s3://bucket/prefix)")
    g.add_argument("--streaming", action="store_true",
                   help="run continuously on one --input; Ctrl-C stops between reads (the checkpoint stays consistent)")
    g.add_argument("--start-position", default="latest", metavar="POSITION",
                   help="kinesis, first run: latest (default), trim_horizon or at_timestamp:ISO-TIME")
    g.add_argument("--endpoint-url", default=None, metavar="URL",
                   help="AWS endpoint for Kinesis, CloudWatch Logs and CloudWatch (e.g. a local emulator)")
    g.add_argument("--delivery-delay", type=float, default=60.0, metavar="SECONDS",
                   help="the most delivery latency the watermark allows for (default 60): each Kinesis shard's "
                        "watermark is held back by the p99 of the delays measured on it (at least 5 s), never more")
    g.add_argument("--allowed-lateness", type=float, default=300.0, metavar="SECONDS",
                   help="late lines still correct a minute's metric point (same id) and re-evaluate its alarms this "
                        "long after the watermark passed it (default 300)")
    g.add_argument("--no-corrections", action="store_true",
                   help="alarm rules evaluate a minute only after the allowed lateness, once (the behaviour before "
                        "on-time firing, for comparison; local catch-up loop only): alerts come minutes later")
    g.add_argument("--poll", type=float, default=5.0, metavar="SECONDS",
                   help="pause after a read that found nothing new (default 5)")
    g.add_argument("--max-rounds", type=int, default=None, metavar="N", help="stop after N reads")
    g.add_argument("--until-caught-up", action="store_true", help="stop after a read that found nothing new")
    g.add_argument("--drain", action="store_true",
                   help="on stopping, flush open invocations (as unfinished) and every open metric window")
    g.add_argument("--kinesis-io", choices=("native", "java"), default="native",
                   help="native (Python, boto3) or java (Beam's cross-language ReadDataFromKinesis: needs Java "
                        "and downloads an expansion-service jar; endless runners only)")
    g.add_argument("--checkpoint", default=None, metavar="DIR", help="checkpoint directory (default <out>/checkpoint)")
    g.add_argument("--poll-metrics", action="store_true",
                   help="also poll CloudWatch GetMetricData (Throttles, Errors, ConcurrentExecutions, IteratorAge, "
                        "DeadLetterErrors, AsyncEventAge) for the functions seen and --metrics-function")
    g.add_argument("--metrics-function", action="append", default=[], metavar="NAME",
                   help="a function to poll CloudWatch metrics for (repeatable)")


def wants_streaming(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "streaming", False)) or any(i.startswith(STREAM_SCHEMES) for i in args.input)


def _config(args: argparse.Namespace):
    if args.runner == "dask":
        raise UsageError("--streaming runs locally on --runner fnapi or direct (Beam's DaskRunner routes no "
                         "tagged outputs), or on FlinkRunner/DataflowRunner")
    if len(args.input) != 1:
        raise UsageError("--streaming reads exactly one --input: kinesis://STREAM, cloudwatch://LOG_GROUP?start=…"
                         "&end=…, a directory, a glob or s3://bucket/prefix")
    try:
        start = StartPosition.parse(args.start_position)
    except ValueError as exc:
        raise UsageError(f"--start-position: {exc}") from None
    for name in ("delivery_delay", "allowed_lateness", "poll"):
        if getattr(args, name) < 0:
            raise UsageError(f"--{name.replace('_', '-')} must not be negative")
    alarms = _alarm_config(args)
    run = run_config(args, list(args.input), alarms=alarms)
    try:
        return StreamConfig(args.input[0], run, start=start, endpoint_url=args.endpoint_url,
                            delivery_delay_ms=int(args.delivery_delay * 1000),
                            lateness_ms=int(args.allowed_lateness * 1000), poll_s=args.poll,
                            corrections=not args.no_corrections,
                            kinesis_io=args.kinesis_io, checkpoint_dir=args.checkpoint,
                            poll_metrics=args.poll_metrics, metrics_functions=tuple(args.metrics_function))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _alarm_config(args: argparse.Namespace):
    """--rules and the notification options, as for a batch run; the batch-only ones refused."""

    if getattr(args, "incident", None):
        raise UsageError("--incident is for the simulated fleet (a batch run without --input)")
    if getattr(args, "metrics_input", None):
        raise UsageError("--metrics-input reads metric files in batch runs; streaming polls CloudWatch "
                         "(--poll-metrics, --metrics-function)")
    return alarm_config(args)


def _say(args: argparse.Namespace, text: str) -> None:
    if not (args.quiet or args.json):
        print(text, flush=True)


def _round_line(report) -> str:
    docs = report.docs
    mark = iso_ms(report.watermark_ms) if report.watermark_ms is not None and report.watermark_ms < 2 ** 50 else "-"
    return (f"read {report.round}: {docs.get('coldtrace-logs', 0):,} log lines, "
            f"{docs.get('coldtrace-invocations', 0):,} invocations, {docs.get('coldtrace-traces', 0):,} spans, "
            f"{docs.get('coldtrace-metrics', 0):,} metric points, {docs.get('coldtrace-alarms', 0):,} alarms, "
            f"{docs.get('coldtrace-deadletter', 0):,} dead letters; watermark {mark}; {report.seconds:.1f} s")


def run_streaming(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if cfg.run.es is not None:   # templates first, so every document lands in a mapped index
        from pipeline.sinks.es_setup import setup  # noqa: PLC0415 -- elasticsearch: +190-430 ms of import, paid only with --es-url (docs/benchmarks.md)

        setup(cfg.run.es)
    if cfg.run.runner not in LOCAL_RUNNERS:
        if not cfg.corrections:
            raise UsageError("--no-corrections is for the local catch-up loop (--runner fnapi or direct): the "
                             "endless graph always fires on time and corrects")
        _say(args, f"submitting the endless streaming graph to {cfg.run.runner} (Ctrl-C stops waiting, not the job)")
        try:
            run_endless(cfg).wait_until_finish()
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        return 0
    if cfg.kinesis_io == "java":
        raise UsageError("--kinesis-io java needs a runner with a Java expansion service (FlinkRunner, DataflowRunner)")

    with hold_out_lock(cfg.run.out_dir):   # one local loop per --out: a second one refuses in one line
        try:
            return _run_local(args, cfg)
        except Exception as exc:             # a read that outlasted its retries: one line, not a traceback
            if (failed := exhausted_in(exc)) is None:
                raise
            raise UsageError(str(failed)) from None


def _run_local(args: argparse.Namespace, cfg) -> int:


    try:
        loop = CatchUp(cfg)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    once = not args.streaming
    _say(args, f"{'reading' if once else 'streaming from'} {cfg.source} into {os.path.join(cfg.run.out_dir, 'indices')}/"
               f" (checkpoint {cfg.ckdir}){'' if once else '; Ctrl-C stops'}")

    def on_round(report) -> None:
        if args.json:
            print(orjson.dumps({"round": report.__dict__}).decode(), flush=True)
        else:
            _say(args, _round_line(report))

    until = (lambda r: not r.read_something) if (once or args.until_caught_up) else None
    reports = loop.run(max_rounds=args.max_rounds, until=until, on_round=on_round, drain_at_end=False)
    if args.drain or once or (reports and reports[-1].done):
        on_round(loop.step(drain=True))
    summary = summarize_out(cfg.run.out_dir)
    summary["streaming"] = {"source": cfg.source, "reads": loop.ck.round, "watermark_ms": loop.ck.watermark_ms,
                            "totals": loop.ck.totals}
    with open(os.path.join(cfg.run.out_dir, "summary.json"), "wb") as f:
        f.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    report = None if getattr(args, "no_report", False) else write_report(cfg.run.out_dir)
    if args.json:
        print(orjson.dumps(summary).decode())
    elif not args.quiet:
        print_summary(summary)
        print(f"index files in {os.path.join(cfg.run.out_dir, 'indices')}/ after {loop.ck.round} reads: "
              + ", ".join(f"{k} {v:,}" for k, v in sorted(loop.ck.totals.items())), file=sys.stdout)
        if report:
            print(f"report: {report}")
    return 0
