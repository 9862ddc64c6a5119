"""A pure, in-process run of a simulated fleet up to MetricPoints: no Beam.

The reference the Beam shells are held against, and a quick way to see what the default rules
make of a fleet."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from pipeline.detect import observe_invocation, observe_throttles
from pipeline.invocations import dedupe_sorted, fold_stream
from pipeline.metrics import window_points
from pipeline.model import DeadLetter, Invocation, MetricPoint, stream_key
from pipeline.parse import parse_event
from pipeline.sources.formats import read_stream


def fleet_invocations_and_observations(fleet_dir: Path, truth: dict):
    arch = {fn: f["architecture"] for fn, f in truth["functions"].items()}
    streams = defaultdict(list)
    for path in sorted(Path(fleet_dir).glob("payloads-*.ndjson")):
        with open(path, "rb") as fh:
            for item in read_stream(fh, str(path), truth["config"]["account"], truth["config"]["region"]):
                assert not isinstance(item, DeadLetter), item
                for ev in item:
                    streams[stream_key(ev)].append(ev)
    invocations: list[Invocation] = []
    observations = []
    for events in streams.values():
        events = [parse_event(ev) for ev in dedupe_sorted(events)]
        observations += observe_throttles(events)
        for inv in fold_stream(events, lambda fn: arch.get(fn, "x86_64")):
            invocations.append(inv)
            observations += observe_invocation(inv)
    return invocations, observations


def fleet_points(fleet_dir: Path, truth: dict) -> list[MetricPoint]:
    return window_points(fleet_invocations_and_observations(fleet_dir, truth)[1])
