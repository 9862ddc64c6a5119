"""The run's settings from the command line, in one place, for batch and streaming alike.

``run_config`` is the one constructor of ``pipeline.run.RunConfig`` from parsed arguments; the
batch command (``commands/run.py``) and the streaming one (``commands/stream_options.py``)
both call it, and neither imports the other's helpers.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import replace

from pipeline.advise.alarms import advice_alarms_enabled
from pipeline.commands.es_options import connect_or_fail, settings_from_args
from pipeline.commands.report import write
from pipeline.errors import UsageError
from pipeline.parse import CORRELATION_PATHS
from pipeline.parse.redact import redactor_for
from pipeline.report import load as report_load
from pipeline.run import RunConfig
from pipeline.transforms.metrics_and_alarms import AlarmConfig
from pipeline.windows import DEFAULT_ARCHITECTURE

ARCHITECTURES = (DEFAULT_ARCHITECTURE, "arm64")


def run_config(args: argparse.Namespace, inputs: list[str], **overrides):
    """The RunConfig the command line asks for (``overrides``: what the mode decided itself:
    workers, the simulated fleet's account, region, architectures and alarms)."""

    fields = dict(inputs=inputs, out_dir=args.out, runner=args.runner, dask_address=args.dask_address,
                  account=args.account, region=args.region, log_group=args.log_group,
                  correlation_paths=CORRELATION_PATHS + tuple(args.correlation_path), beam_args=list(args.beam_args))
    fields.update(overrides)
    fields["alarms"] = with_advice_alarms(args, fields.get("alarms"))
    if "architectures" not in fields:
        fields["architectures"] = parse_architectures(args.architecture)
    if "redactor" not in fields:
        fields["redactor"] = redactor(args)
    if "es" not in fields:
        fields["es"] = es_settings(args)   # last: it probes the server
    return RunConfig(**fields)


def with_advice_alarms(args: argparse.Namespace, alarms=None):
    """The run's AlarmConfig with ``advice_alarms`` decided: ``--advice-alarms`` /
    ``--no-advice-alarms``, else on with ``--streaming`` and off in a batch or read-once run
    (a backfill would page someone today for last month's deploys)."""

    mode = "streaming" if getattr(args, "streaming", False) else "batch"
    return replace(alarms or AlarmConfig(), advice_alarms=advice_alarms_enabled(mode, getattr(args, "advice_alarms", None)))


def es_settings(args: argparse.Namespace):
    """EsSettings when --es-url is given (server probed once for plain JSON), else None."""

    settings = settings_from_args(args)
    return connect_or_fail(settings) if settings is not None else None


def parse_architectures(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        fn, sep, arch = item.partition("=")
        if not sep or arch not in ARCHITECTURES:
            raise UsageError(f"--architecture {item!r}: expected FUNCTION=x86_64 or FUNCTION=arm64")
        out[fn] = arch
    return out


def redactor(args: argparse.Namespace):
    """The redactor of the run (None with --no-redact); a bad --redact-pattern is a usage error."""
    if args.no_redact:
        return None
    custom: dict[str, str] = {}
    for item in args.redact_pattern:
        name, sep, rx = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
            raise UsageError(f"--redact-pattern {item!r}: expected NAME=REGEX (NAME: letters, digits, _ . -)")
        try:
            re.compile(rx)
        except re.error as exc:
            raise UsageError(f"--redact-pattern {name}: not a valid regular expression: {exc}") from None
        custom[name] = rx
    return redactor_for(custom=custom)


def load_run(out_dir: str):
    """The run's documents, read once for both the summary and the report (None: read apart)."""
    try:
        return report_load.load_run(out_dir)
    except Exception:  # the summary reads the files itself; the report then says what failed
        return None


def write_report(out_dir: str, loaded=None) -> str | None:
    """The HTML report of the run; a failure to write it is told on stderr, the run stands."""

    try:
        return write(out_dir, loaded=loaded)
    except Exception as exc:  # the index files are written: never lose the run over its report
        print(f"coldtrace run: report not written: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
