"""Checks of a command's arguments before it starts work, and what must live around it
(a local dask cluster): so a mistake is one clear line at once, not a failure minutes into a
run or a library's traceback. ``coldtrace run`` offers ``command_context`` (pipeline/commands/run.py),
and ``pipeline/cli.py`` runs the command inside it.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Iterator

from apache_beam.options.pipeline_options import StandardOptions

from pipeline.commands.stream_options import wants_streaming
from pipeline.dask_cluster import local_cluster, probe_scheduler
from pipeline.errors import UsageError
from pipeline.run import RUNNERS

# Options of `coldtrace run` that must be above zero / at least zero when given.
POSITIVE = ("events", "max_rounds", "es_timeout", "otlp_timeout")
NON_NEGATIVE = ("webhook_retries", "delivery_delay", "allowed_lateness", "poll")


def check_numbers(args: argparse.Namespace) -> None:
    for dest in POSITIVE + NON_NEGATIVE:
        value = getattr(args, dest, None)
        if value is None:
            continue
        if value < 0 or (value == 0 and dest in POSITIVE):
            flag = "--" + dest.replace("_", "-")
            raise UsageError(f"{flag} {value}: expected a number {'above' if dest in POSITIVE else 'of at least'} 0")


def check_runner(name: str) -> None:
    """The runner is one of coldtrace's names, one Beam knows, or a class path (module.Class)."""
    if name in RUNNERS or "." in name:
        return
    known = {n.lower() for n in StandardOptions.KNOWN_RUNNER_NAMES}
    if name.lower() in known or f"{name.lower()}runner" in known:
        return
    raise UsageError(f"--runner {name!r}: not a runner; use {', '.join(RUNNERS)}, a Beam runner "
                     "(FlinkRunner, DataflowRunner, PrismRunner, ...) or a class path module.Class")


@contextlib.contextmanager
def command_context(args: argparse.Namespace) -> Iterator[None]:
    """Around one command: argument checks, then for ``run --runner dask`` a reachable scheduler —
    the one at --dask-address (probed), or a local cluster started here and stopped after."""
    if args.command != "run":
        yield
        return
    check_numbers(args)
    check_runner(args.runner)

    if args.runner != "dask" or wants_streaming(args):
        yield
        return

    if args.dask_address:
        probe_scheduler(args.dask_address, verbose=getattr(args, "verbose", False))
        yield
        return
    with local_cluster(verbose=getattr(args, "verbose", False)) as cluster:
        if not (args.quiet or args.json):
            print(f"started a local dask cluster: {cluster.workers} worker processes, scheduler "
                  f"{cluster.address}, dashboard {cluster.dashboard}")
        args.dask_address = cluster.address
        yield
