"""The simulator's own command line: write a fleet of about N events and time it."""

from __future__ import annotations

import argparse
import time

from pipeline.sources.simulate.engine import write_fleet
from pipeline.sources.simulate.sizing import config_for_events


def main(argv: list[str] | None = None) -> None:
    """`python -m pipeline.sources.simulate OUT --events N`: write a fleet and print its size and speed."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--files", type=int, default=8)
    args = parser.parse_args(argv)
    config = config_for_events(args.events, seed=args.seed, files=args.files)
    began = time.perf_counter()
    truth = write_fleet(args.out, config)
    took = time.perf_counter() - began
    print(f"{truth['events']} events, {truth['payloads']} payloads, {config.functions} functions x "
          f"{config.minutes} min x {config.invocations_per_minute}/min in {took:.2f} s "
          f"({truth['events'] / took:,.0f} events/s)")
