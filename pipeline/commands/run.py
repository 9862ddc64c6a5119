"""Run the coldtrace pipeline: read Lambda logs, build invocations, write index files.

With no --input, a deterministic synthetic fleet is simulated into <out>/input/ and processed,
so the command works on a fresh machine with no AWS account and no Elasticsearch. Inputs are
files or globs (local or s3://) holding CloudWatch Logs subscription payloads, CloudWatch Logs
exports or the forwarder's NDJSON spool; gzip is detected. Output: <out>/indices/<index>.ndjson
in Elasticsearch bulk format, <out>/summary.json, and a summary table.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from dataclasses import replace

import orjson
from elastic_transport import TransportError

from pipeline.advise.summary_lines import print_top_findings
from pipeline.commands.alarm_options import add_alarm_arguments, alarm_config, incidents_from_args, with_simulation
from pipeline.commands.es_options import add_es_arguments
from pipeline.commands.otlp_options import add_otlp_arguments, otlp_settings
from pipeline.commands.run_config import load_run, parse_architectures, run_config, write_report
from pipeline.commands.stream_options import add_stream_arguments, run_streaming, wants_streaming
from pipeline.errors import UsageError
from pipeline.ledger import cross_check_elasticsearch
from pipeline.preflight import command_context  # noqa: F401  (pipeline/cli.py runs main() inside it)
from pipeline.progress import progress
from pipeline.progress_channel import progress_dir
from pipeline.render import print_summary
from pipeline.run import auto_workers, run
from pipeline.sinks.elasticsearch import es_counters
from pipeline.sinks.es_bulk import BulkError
from pipeline.sinks.otel import otlp_counters
from pipeline.sources.simulate import FleetConfig, config_for_events, write_fleet
from pipeline.summary import summarize_out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", "-i", action="append", default=[], metavar="PATH|GLOB",
                   help="input file, directory or glob (repeatable); s3://bucket/prefix* works too")
    p.add_argument("--out", "-o", default="coldtrace-out", help="output directory")
    p.add_argument("--runner", default="fnapi",
                   help="Beam runner: fnapi (in-process), direct, dask, or a runner class name")
    p.add_argument("--dask-address", default=None, metavar="tcp://HOST:PORT",
                   help="dask.distributed scheduler address, for --runner dask")
    p.add_argument("--workers", type=_workers, default="auto", metavar="N|auto",
                   help="worker processes for --runner fnapi (separate processes when > 1); "
                        "auto: one per CPU core when the input is large enough to repay starting them, else 1")
    p.add_argument("--account", default=None, help="AWS account id, when payloads do not carry it")
    p.add_argument("--region", default=None, help="AWS region of the log groups (payloads do not carry it)")
    p.add_argument("--log-group", default=None,
                   help="log group of CloudWatch Logs export files (exports do not name it)")
    p.add_argument("--architecture", action="append", default=[], metavar="FUNCTION=arm64",
                   help="a function's architecture for cost estimates (default x86_64; repeatable)")
    p.add_argument("--correlation-path", action="append", default=[], metavar="KEY.PATH",
                   help="extra JSON key or dotted path holding a correlation id (repeatable)")
    p.add_argument("--seed", type=int, default=7, help="seed of the simulated fleet (no --input)")
    p.add_argument("--events", type=int, default=None,
                   help="size of the simulated fleet in log events (no --input; default about 50,000)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.add_argument("--json", action="store_true",
                   help='machine-readable stdout: progress lines {"progress": {...}}, then the summary as JSON')
    p.add_argument("--no-report", action="store_true", help="do not write the HTML report <out>/report.html")
    p.add_argument("--no-redact", action="store_true",
                   help="index lines as read: no redaction of private keys, AWS access and secret keys, bearer "
                        "tokens, JWTs, GitHub/Slack/Stripe tokens, URL and connection-string passwords, e-mail "
                        "addresses and card numbers (redaction is on by default)")
    p.add_argument("--redact-pattern", action="append", default=[], metavar="NAME=REGEX",
                   help="also redact what this regular expression matches, as [REDACTED:NAME] (repeatable)")
    p.add_argument("beam_args", nargs="*", metavar="-- BEAM_OPTION",
                   help="options passed through to Beam after --, e.g. -- --flink_master=host:8081")
    add_es_arguments(p, url_required=False)
    add_otlp_arguments(p)
    add_alarm_arguments(p)
    add_stream_arguments(p)


def _workers(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'auto', got {text!r}")
    return n


def _check_inputs(patterns: list[str]) -> list[str]:
    resolved: list[str] = []
    for pat in patterns:
        if "://" in pat:
            resolved.append(pat)
            continue
        if os.path.isdir(pat):
            pat = os.path.join(pat, "*")
        if not glob.glob(pat):
            raise UsageError(f"no file matches --input {pat!r}")
        resolved.append(os.path.abspath(pat) if not glob.has_magic(pat) else pat)
    return resolved


def _simulated_inputs(args: argparse.Namespace) -> tuple[list[str], dict]:
    cfg = config_for_events(args.events, seed=args.seed) if args.events else FleetConfig(seed=args.seed)
    cfg = replace(cfg, incidents=incidents_from_args(args))
    sim_dir = os.path.join(args.out, "input")
    try:
        truth = write_fleet(sim_dir, cfg)
    except ValueError as exc:  # an incident on a function the fleet does not have
        raise UsageError(f"--incident: {exc}") from None
    if not (args.quiet or args.json):
        print(f"simulated {truth['events']:,} log events of {len(truth['functions'])} functions "
              f"into {sim_dir}/ (seed {args.seed})")
    return [os.path.join(sim_dir, "payloads-*.ndjson")], truth


def main(args: argparse.Namespace) -> int:
    if wants_streaming(args):
        return run_streaming(args)

    alarms = alarm_config(args)
    architectures = parse_architectures(args.architecture)
    account, region = args.account, args.region
    if args.input:
        if args.incident:
            raise UsageError("--incident is for the simulated fleet (no --input)")
        inputs = _check_inputs(args.input)
    else:
        inputs, truth = _simulated_inputs(args)
        alarms = with_simulation(alarms, truth, os.path.join(args.out, "input"))
        account = account or truth["config"]["account"]
        region = region or truth["config"]["region"]
        for fn, facts in truth["functions"].items():
            architectures.setdefault(fn, facts.get("architecture") or "x86_64")
    cfg = run_config(args, inputs, account=account, region=region, architectures=architectures, alarms=alarms,
                     direct_num_workers=auto_workers(inputs) if args.workers == "auto" else args.workers)
    es = cfg.es
    cfg.otlp = otlp_settings(args)
    with progress("coldtrace pipeline", os.path.join(args.out, "indices"), quiet=args.quiet,
                  json_lines=args.json, progress_dir=progress_dir(os.path.abspath(args.out))) as tracker:
        try:
            result = run(cfg)
        except Exception as exc:
            if es is None or not _es_failure(exc):
                raise
            # Elasticsearch refused us or stayed away: one line, no traceback, no credential
            print(f"coldtrace run: Elasticsearch at {es.redacted_url()}: {_es_failure(exc)}", file=sys.stderr)
            return 1
    loaded = None if args.no_report else load_run(args.out)
    summary = summarize_out(args.out, loaded)
    done = tracker.last
    summary["run"] = {"elapsed_s": round(done.elapsed_s, 3), "events_read": done.events,
                      "events_per_s": round(done.events_per_s, 1)}
    if es is not None:
        try:
            es_counts = es_counters(result)
        except NotImplementedError:  # DaskRunner reports no counters
            es_counts = {}
        summary["elasticsearch"] = {"url": es.redacted_url(), **es_counts}
    if cfg.otlp is not None:
        summary["otlp"] = {"endpoint": cfg.otlp.endpoint, **otlp_counters(result)}
    ledger = _settle(result, summary)
    with open(os.path.join(args.out, "summary.json"), "wb") as f:
        f.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    report = None if args.no_report else write_report(args.out, loaded)
    del loaded
    if args.json:
        print(orjson.dumps(summary).decode())
        return _ledger_exit(ledger)
    if not args.quiet:
        print_summary(summary)
        print_top_findings(args.out)   # the advice: coldtrace advise --from OUT has them all
        docs = summary["documents"]
        print(f"index files in {os.path.join(args.out, 'indices')}/: "
              + ", ".join(f"{name} {n:,}" for name, n in docs.items()))
        dead = docs.get("coldtrace-deadletter", 0)
        if dead:
            print(f"{dead:,} input(s) could not be processed: see "
                  f"{os.path.join(args.out, 'indices', 'coldtrace-deadletter.ndjson')} for each reason")
        if es is not None:
            c = summary["elasticsearch"]
            print(f"Elasticsearch {c['url']}: {c['indexed']:,} documents indexed, {c['already_indexed']:,} "
                  f"already there, {c['rejected']:,} rejected (dead letters in coldtrace-deadletter)")
        if cfg.otlp is not None:
            c = summary["otlp"]
            print(f"OpenTelemetry {c['endpoint']}: {c['exported']:,} spans exported"
                  + (f", {c['failed']:,} failed (the traces index holds them all)" if c["failed"] else ""))
        if report:
            print(f"report: {report}")
        for row in ledger.rows:
            print(f"ledger {row.line()}")
    return _ledger_exit(ledger)


def _es_failure(exc: BaseException) -> str | None:
    """The Elasticsearch error behind ``exc`` (an API or transport error, or the bulk writer giving
    up, possibly wrapped by the runner), as one line; None when it is something else."""
    from elasticsearch import ApiError  # noqa: PLC0415 -- elasticsearch: +190-430 ms of import, paid only with --es-url (docs/benchmarks.md)

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (ApiError, TransportError, BulkError)):
            return f"{type(seen).__name__}: {seen}"
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    return next((line.strip() for line in text.splitlines() if "BulkError" in line), None)


def _settle(result, summary: dict):
    """The run's ledger (pipeline.ledger), checked against Elasticsearch's counters too when the
    sink ran and the runner reports counters; stored in the summary."""
    ledger = result.ledger
    if "elasticsearch" in summary:
        cross_check_elasticsearch(ledger, summary["elasticsearch"], summary["documents"])
    summary["ledger"] = ledger.to_dict()
    return ledger


def _ledger_exit(ledger) -> int:
    """A ledger that does not balance is an error exit, with what is off and by how much."""
    if ledger.balanced:
        return 0
    for problem in ledger.problems:
        print(f"coldtrace run: ledger mismatch: {problem}", file=sys.stderr)
    return 1
