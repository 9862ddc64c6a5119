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


from pipeline.errors import UsageError  # noqa: E402  (re-exported: commands raise it)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coldtrace",
        description="Observability pipeline for AWS Lambda logs: invocations, cold starts, errors, "
                    "traces, metrics and alarms, into Elasticsearch or local index files.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._module.main(args) or 0)
    except UsageError as exc:
        print(f"coldtrace {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
