"""Analyze cold starts: per function the cold-start count and rate, init p50/p95/p99, what the
callers waited in total, by runtime and by memory size, and what provisioned concurrency sized
at the observed peak would cost — with advice (provisioned concurrency, SnapStart, package size)
only where the figures support it (thresholds in pipeline/report/coldstarts.py).

Sources: --from OUT (the index files of a coldtrace run), --input PATH (log files in any format
`coldtrace run` reads), or --log-group NAME (CloudWatch Logs FilterLogEvents over --since); logs
are folded in this process with the pipeline's own parser and invocation fold.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

import boto3
import orjson
from rich.console import Console
from rich.table import Table

import pipeline.run  # noqa: F401  (its logging filter keeps Beam's import warning quiet)
from pipeline.commands.run_config import parse_architectures as _parse_architectures
from pipeline.errors import UsageError
from pipeline.local_index import read_docs
from pipeline.report.coldstarts import analyze
from pipeline.report.from_logs import expand_inputs, invocation_docs, read_files
from pipeline.report.html import fmt
from pipeline.report.load import index_file
from pipeline.sources import cloudwatch_api
from pipeline.sources.kinesis_shards import parse_time_ms


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--from", dest="from_dir", default=None, metavar="OUT",
                     help="output directory of a coldtrace run: analyze its invocations index")
    src.add_argument("--input", "-i", action="append", default=[], metavar="PATH|GLOB",
                     help="log files (subscription payloads, CloudWatch exports, spool), directory or glob; "
                          "repeatable")
    src.add_argument("--log-group", action="append", default=[], metavar="NAME",
                     help="CloudWatch Logs log group to read with FilterLogEvents, or a name prefix ending "
                          "in * (repeatable; AWS credentials from the usual chain)")
    p.add_argument("--since", default="24h", metavar="DURATION|TIME",
                   help="with --log-group: how far back to read (90m, 24h, 7d) or a start time (ISO 8601, epoch ms)")
    p.add_argument("--until", default=None, metavar="TIME",
                   help="with --log-group: end of the window (ISO 8601 or epoch ms; default now)")
    p.add_argument("--endpoint-url", default=None, metavar="URL",
                   help="with --log-group: CloudWatch Logs endpoint (a local one, for tests)")
    p.add_argument("--region", default=None, help="AWS region (of the log group; stamped on events)")
    p.add_argument("--account", default=None, help="AWS account id, when the input does not carry it")
    p.add_argument("--architecture", action="append", default=[], metavar="FUNCTION=arm64",
                   help="a function's architecture for cost figures (default x86_64; repeatable)")
    p.add_argument("--json", action="store_true", help="print the analysis as JSON on stdout")


def _window_ms(since: str, until: str | None) -> tuple[int, int]:
    """``--since 90m|24h|7d`` (or an ISO time / epoch ms) and ``--until`` (default now) → [start, end)."""
    now = int(time.time() * 1000)
    try:
        end = parse_time_ms(until) if until else now
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|m|min|h|d)", since.strip())
        if m:
            unit = {"s": 1_000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}[m.group(2)]
            start = end - int(float(m.group(1)) * unit)
        else:
            start = parse_time_ms(since)
    except ValueError as exc:
        raise UsageError(f"--since/--until: {exc}") from None
    if start >= end:
        raise UsageError("--since must be before --until")
    return start, end


def _docs_from_log_group(args: argparse.Namespace) -> list[dict]:
    """FilterLogEvents over the window (``pipeline.sources.cloudwatch_api``), folded here."""
    start, end = _window_ms(args.since, args.until)
    client = boto3.client("logs", region_name=args.region, endpoint_url=args.endpoint_url)
    region = args.region or client.meta.region_name
    events = []
    for pattern in args.log_group:
        for group in cloudwatch_api.log_groups(client, pattern):
            for batch in cloudwatch_api.filter_log_events(client, group, start, end, account=args.account,
                                                          region=region):
                events.extend(batch)
    return invocation_docs(events, _architectures(args))


def _architectures(args: argparse.Namespace) -> dict[str, str]:
    return _parse_architectures(args.architecture)


def load_docs(args: argparse.Namespace) -> tuple[list[dict], str]:
    """(invocation documents, where they came from)."""
    if args.log_group:
        return _docs_from_log_group(args), "log group(s) " + ", ".join(args.log_group)
    if args.input:
        try:
            files = expand_inputs(args.input)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        events, dead = read_files(files, args.account, args.region)
        if dead:
            print(f"{len(dead):,} input item(s) could not be read, e.g.: {dead[0].error}",
                  file=sys.stderr)
        return invocation_docs(events, _architectures(args)), f"{len(files)} file(s), {len(events):,} log events"

    out = args.from_dir or "coldtrace-out"
    path = index_file(out, "coldtrace-invocations")
    if not os.path.exists(path):
        raise UsageError(f"{path} not found: give --from OUT of a coldtrace run, --input or --log-group")
    return list(read_docs(path)), path


def print_analysis(analysis: dict, origin: str) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=170)
    t = Table(title=f"cold starts per function — {origin}", header_style="bold")
    cols = [("function", "function", "text"), ("runtime", "runtime", "text"), ("memory_size_mb", "memory", "mb"),
            ("invocations", "invocations", "int"), ("cold_starts", "cold", "int"), ("cold_start_rate", "cold %", "pct"),
            ("cold_starts_per_hour", "per hour", "num"), ("init_p50_ms", "init p50", "ms"),
            ("init_p95_ms", "init p95", "ms"), ("init_p99_ms", "init p99", "ms"), ("init_total_s", "waited s", "num"),
            ("peak_concurrency", "peak", "int"), ("provisioned_cost_per_hour_usd", "PC $/h", "usd")]
    for _, label, kind in cols:
        t.add_column(label, justify="left" if kind == "text" else "right")
    for row in analysis["functions"]:
        t.add_row(*(fmt(row.get(key), kind) for key, _, kind in cols))
    console.print(t)
    for title, key, label in (("by runtime", "by_runtime", "runtime"), ("by memory size", "by_memory", "memory_size_mb")):
        g = Table(title=f"cold starts {title}", header_style="bold")
        gcols = [(label, label.replace("_size_mb", ""), "mb" if key == "by_memory" else "text"),
                 ("functions", "functions", "int"), ("invocations", "invocations", "int"),
                 ("cold_starts", "cold", "int"), ("cold_start_rate", "cold %", "pct"), ("init_p50_ms", "init p50", "ms"),
                 ("init_p95_ms", "init p95", "ms"), ("init_p99_ms", "init p99", "ms")]
        for _, head, kind in gcols:
            g.add_column(head, justify="left" if kind == "text" else "right")
        for row in analysis[key]:
            g.add_row(*(fmt(row.get(k), kind) for k, _, kind in gcols))
        console.print(g)
    advised = [(r["function"], a) for r in analysis["functions"] for a in r["advice"]]
    if not advised:
        console.print("no advice: no function has enough cold starts, often and long enough, to act on")
    for fn, a in advised:
        console.print(f"[bold]{fn}[/] — {a['kind']}: {a['text']}")


def main(args: argparse.Namespace) -> int:
    docs, origin = load_docs(args)
    if not docs:
        raise UsageError(f"no invocation found in {origin}")
    analysis = analyze(docs)
    if args.json:
        print(orjson.dumps({"source": origin, **analysis}).decode())
    else:
        print_analysis(analysis, origin)
    return 0
