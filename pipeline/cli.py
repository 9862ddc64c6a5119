"""The ``coldtrace`` command. Each subcommand lives in its own module under
``pipeline/commands/`` and is imported only when it runs, so ``coldtrace --help`` is quick and
one command's dependencies never slow another.

A command module offers ``HELP`` (one line), ``add_arguments(parser)`` and ``main(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name → module; add a line here to add a command.
COMMANDS: dict[str, str] = {
    "run": "pipeline.commands.run",
    "simulate": "pipeline.commands.simulate",
    "es-setup": "pipeline.commands.es_setup",
    "es-load": "pipeline.commands.es_load",
    "kibana-import": "pipeline.commands.kibana_import",
    "forwarder-build": "pipeline.commands.forwarder_build",
    "report": "pipeline.commands.report",
    "analyze-cold-starts": "pipeline.commands.analyze_cold_starts",
    "replay": "pipeline.commands.replay",
    "advise": "pipeline.commands.advise",
}


from pipeline.errors import describe  # noqa: E402
from pipeline.quiet_logs import quiet_logging  # noqa: E402


class _Parser(argparse.ArgumentParser):
    """A usage mistake is one line naming the command, not the usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="coldtrace",
        description="Observability pipeline for AWS Lambda logs: invocations, cold starts, errors, "
                    "traces, metrics and alarms, into Elasticsearch or local index files.")
    parser.add_argument("--verbose", action="store_true",
                        help="show libraries' log lines, and a traceback with an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        module.add_arguments(p)
        p.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="show libraries' log lines, and a traceback with an error")
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    verbose = bool(getattr(args, "verbose", False))
    quiet_logging(verbose)
    from pipeline.preflight import command_context

    try:
        with command_context(args):
            return int(args._module.main(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure is one line; --verbose adds the traceback
        if verbose:
            import traceback

            traceback.print_exc()
        status, line = describe(exc)
        print(f"coldtrace {args.command}: {line}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
