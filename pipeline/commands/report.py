"""Write the HTML report of a finished run: one self-contained page (no network needed to open
it) with the views of the Kibana dashboards — invocations and errors over time, cold starts
(rate, init distribution, by runtime and memory size, what provisioned concurrency would cost),
duration percentiles, memory utilisation, throttles and concurrency, iterator age, cost per
function, the alarm timeline and waterfalls of the slowest traces — from the run's aggregate
(<from>/aggregates/report.json, written by the pipeline), else folded from its local index files
(<from>/indices/coldtrace-*.ndjson) line by line. `coldtrace run` writes it too, as <out>/report.html.
"""

from __future__ import annotations

import argparse
import os

import pipeline.run  # noqa: F401  (its logging filter keeps Beam's import warning quiet)
from pipeline.errors import UsageError
from pipeline.report.html import write_report
from pipeline.report.load import load_run
from pipeline.report.views import build_report


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="from_dir", default="coldtrace-out", metavar="OUT",
                   help="output directory of a coldtrace run (holds indices/)")
    p.add_argument("--output", "-o", default=None, metavar="FILE.html",
                   help="where to write the report (default: <OUT>/report.html)")
    p.add_argument("--title", default="coldtrace report", help="title of the page")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")


def write(out_dir: str, output: str | None = None, title: str = "coldtrace report", loaded=None) -> str:
    """Build and write the report of the run in ``out_dir`` (from ``loaded``, its already read
    ``ReportAggregate``, when given); returns the file written."""
    return write_report(build_report(loaded if loaded is not None else load_run(out_dir), title=title),
                        output or os.path.join(out_dir, "report.html"))


def main(args: argparse.Namespace) -> int:
    try:
        path = write(args.from_dir, args.output, args.title)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    if not args.quiet:
        print(f"report written to {path}")
    return 0
