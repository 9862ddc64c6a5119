"""Detect: invocations and parsed log streams → Observations for the window metrics.

A thin shell over ``pipeline.detect``: each invocation gives its observations (outcome, cold
start, durations, pressure, its interval); each throttle line of a log stream gives a
throttle observation for the function it names, or a downstream throttle of the caller.
Applied to a pair: ``(invocations, streams) | Detect()``, it gives a pair.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.detect import observe_invocation, observe_throttles


class _ObserveInvocation(beam.DoFn):
    def __init__(self) -> None:
        self.cold = Metrics.counter("coldtrace", "cold_starts")
        self.failed = Metrics.counter("coldtrace", "failed_invocations")

    def process(self, inv):
        observations = observe_invocation(inv)
        self.cold.inc(inv.cold_start)
        self.failed.inc(inv.outcome not in ("success", "unfinished"))
        yield from observations


class _ObserveThrottleLines(beam.DoFn):
    def __init__(self) -> None:
        self.throttles = Metrics.counter("coldtrace", "throttle_lines")

    def process(self, keyed):
        observations = observe_throttles(keyed[1])
        self.throttles.inc(len(observations))
        yield from observations


class Detect(beam.PTransform):
    """(Invocations, (stream key, parsed events)) → (observations of invocations, of throttle lines)."""

    def expand(self, pcolls):
        invocations, streams = pcolls
        from_invocations = invocations | "ObserveInvocations" >> beam.ParDo(_ObserveInvocation())
        from_lines = streams | "ObserveThrottleLines" >> beam.ParDo(_ObserveThrottleLines())
        return from_invocations, from_lines  # not flattened: WindowMetrics combines each first
