"""The ``coldtrace`` command. Each subcommand lives in its own module under
``pipeline/commands/`` and is imported only when it runs, so ``coldtrace --help`` is quick and
one command's dependencies (Beam for ``run``, the Elasticsearch client for ``es-load``) never
slow another.

A command module offers ``add_arguments(parser)`` and ``main(args) -> int``, and may offer
``command_context(args)``, a context manager around ``main`` (``run``: argument checks, a local
dask cluster). Its one-line help lives here, so listing the commands imports none of them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import traceback
from collections.abc import Iterable

from pipeline.errors import describe
from pipeline.quiet_logs import quiet_logging

# name → (module, one-line help); add a line here to add a command.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("pipeline.commands.run",
            "run the pipeline (no --input: on a simulated fleet) into local index files"),
    "simulate": ("pipeline.commands.simulate",
                 "write a deterministic synthetic fleet's subscription payloads and ground truth"),
    "es-setup": ("pipeline.commands.es_setup",
                 "apply coldtrace's index templates and lifecycle policies, create the indices (idempotent)"),
    "es-load": ("pipeline.commands.es_load",
                "load a run's local index files into Elasticsearch (idempotent)"),
    "kibana-import": ("pipeline.commands.kibana_import",
                      "import the Kibana dashboards and data views (dashboards/kibana/*.ndjson)"),
    "forwarder-build": ("pipeline.commands.forwarder_build", "build the forwarder Lambda's deployment zip"),
    "report": ("pipeline.commands.report",
               "write the HTML report of a run's index files (one self-contained page)"),
    "analyze-cold-starts": ("pipeline.commands.analyze_cold_starts",
                            "cold starts per function, runtime and memory size, with advice where the data supports it"),
    "replay": ("pipeline.commands.replay",
               "replay dead letters (local dead-letter file, SQS DLQ) through the decode path and the pipeline"),
    "advise": ("pipeline.commands.advise",
               "advice from a run: memory size, arm64, provisioned concurrency, regressions after a deploy or "
               "runtime update"),
}


class _Parser(argparse.ArgumentParser):
    """A usage mistake is one line naming the command, not the usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def command_named(argv: list[str]) -> str | None:
    """The subcommand ``argv`` runs: its first word that is not an option (None: none, or not a command)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(load: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command; ``load`` names the commands whose module is imported and whose
    options are added (None: all of them). The others are listed by name and help line only."""
    wanted = set(COMMANDS if load is None else load)
    parser = _Parser(
        prog="coldtrace",
        description="Observability pipeline for AWS Lambda logs: invocations, cold starts, errors, "
                    "traces, metrics and alarms, into Elasticsearch or local index files.")
    parser.add_argument("--verbose", action="store_true",
                        help="show libraries' log lines, and a traceback with an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_line) in COMMANDS.items():
        if name not in wanted:
            sub.add_parser(name, help=help_line)
            continue
        # The one lazy import site of the CLI: a command's module, with its libraries, only when that
        # command runs (docs/benchmarks.md, "CLI start-up": Beam alone costs seconds).
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_line, description=module.__doc__,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        module.add_arguments(p)
        p.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="show libraries' log lines, and a traceback with an error")
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Before the command's module is imported: libraries (Beam) log at import time.
    verbose = "--verbose" in (argv[:argv.index("--")] if "--" in argv else argv)
    quiet_logging(verbose)
    name = command_named(argv)
    parser = build_parser([name] if name else [])
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    context = getattr(args._module, "command_context", None)
    try:
        with context(args) if context else contextlib.nullcontext():
            return int(args._module.main(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure is one line; --verbose adds the traceback
        if verbose:
            traceback.print_exc()
        status, line = describe(exc)
        print(f"coldtrace {args.command}: {line}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
