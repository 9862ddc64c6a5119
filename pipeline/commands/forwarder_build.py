"""Build the forwarder's Lambda deployment zip (forwarder/ + the pure pipeline modules it
imports + orjson for the Lambda platform; boto3 comes with the Lambda runtime). Prints its size."""

from __future__ import annotations

import argparse

from forwarder.build import BuildError, build
from forwarder.build import add_arguments as build_arguments
from pipeline.errors import UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    build_arguments(p)


def main(args: argparse.Namespace) -> int:
    try:
        build(args.out, args.arch, args.python, args.strict)
    except BuildError as exc:
        raise UsageError(str(exc)) from None
    return 0
