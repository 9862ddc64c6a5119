"""Advice from a finished run: right-size memory (measured at each size where the function ran at
several), move x86_64 functions to arm64, size provisioned concurrency, and name the deploy or
the runtime update after which a function got worse (error rate, p95 duration, init, memory).

Reads <OUT>/aggregates/advice.json when the pipeline wrote it, else streams the run's invocations
index (<OUT>/indices/coldtrace-invocations.ndjson). Thresholds and the JSON format: docs/advice.md.
"""

from __future__ import annotations

import argparse
import sys

import orjson

from pipeline.advise import advise
from pipeline.advise.files import load_aggregate
from pipeline.advise.summary_lines import finding_line
from pipeline.errors import UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="from_dir", default="coldtrace-out", metavar="OUT",
                   help="output directory of a coldtrace run")
    p.add_argument("--json", action="store_true",
                   help="print a JSON array of findings (function, kind, current, recommended, "
                        "monthly_savings_usd, evidence, ...)")


def _table(findings) -> str:
    if not findings:
        return "no advice: nothing in this run supports a change (thresholds: docs/advice.md)"
    out = []
    for k, f in enumerate(findings, 1):
        out.append(f"{k:>3}. {finding_line(f)}")
        out.append(f"     {f.evidence}")
        if f.caveat:
            out.append(f"     note: {f.caveat}")
    return "\n".join(out)


def main(args: argparse.Namespace) -> int:
    try:
        loaded = load_aggregate(args.from_dir)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:   # an aggregate file of another format, or not JSON
        raise UsageError(f"{args.from_dir}: {exc}") from None
    if loaded.bad_lines:
        print(f"coldtrace advise: {loaded.bad_lines:,} line(s) of {loaded.source} were not invocation documents "
              "and were left out", file=sys.stderr)
    findings = advise(loaded.aggregate)
    if args.json:
        print(orjson.dumps([f.to_json() for f in findings], option=orjson.OPT_INDENT_2).decode())
    else:
        print(_table(findings))
    return 0
