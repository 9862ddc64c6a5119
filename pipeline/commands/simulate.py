"""Write a synthetic Lambda fleet: CloudWatch Logs subscription payloads and the ground truth.

Deterministic from --seed. The payload files are what the forwarder receives and what
`coldtrace run --input` reads; ground_truth.json holds what a correct pipeline must find.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from pipeline.commands.alarm_options import add_incident_argument, incidents_from_args
from pipeline.errors import UsageError
from pipeline.sources.simulate import FleetConfig, config_for_events, write_fleet


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="coldtrace-sim", help="directory for payloads-*.ndjson and ground_truth.json")
    p.add_argument("--seed", type=int, default=7, help="random seed: same seed, same fleet, byte for byte")
    p.add_argument("--functions", type=int, default=12, help="number of functions")
    p.add_argument("--minutes", type=int, default=10, help="simulated minutes")
    p.add_argument("--rate", type=int, default=60, help="mean invocations per minute per function")
    p.add_argument("--files", type=int, default=4, help="payload files to shard into")
    p.add_argument("--events", type=int, default=None,
                   help="aim for about this many log events (overrides --functions/--minutes/--rate)")

    add_incident_argument(p)


def config_from_args(args: argparse.Namespace):
    if args.events:
        return config_for_events(args.events, seed=args.seed, files=args.files)
    return FleetConfig(seed=args.seed, functions=args.functions, minutes=args.minutes,
                       invocations_per_minute=args.rate, files=args.files,
                       include_invocations=args.functions * args.minutes * args.rate <= 200_000)


def main(args: argparse.Namespace) -> int:
    if min(args.functions, args.minutes, args.rate, args.files) < 1:
        raise UsageError("--functions, --minutes, --rate and --files must be at least 1")

    try:
        truth = write_fleet(args.out, replace(config_from_args(args), incidents=incidents_from_args(args)))
    except ValueError as exc:
        raise UsageError(f"--incident: {exc}") from None
    print(f"wrote {truth['events']:,} log events in {truth['payloads']:,} payloads "
          f"for {len(truth['functions'])} functions to {args.out}/")
    return 0
