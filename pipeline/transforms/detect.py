"""Detect: invocations, parsed log streams and dead letters → Observations for the window metrics.

A thin shell over ``pipeline.detect``: each invocation gives its observations (outcome, cold
start, durations, pressure, its interval); each throttle line of a log stream gives a
throttle observation for the function it names, or a downstream throttle of the caller; each
dead letter counts in coldtrace's own minute. Applied to a triple:
``(invocations, logs, dead letters) | Detect()``, it gives a triple (not flattened:
``WindowMetrics`` combines each where it is made).
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.detect import observe_dead_letter, observe_invocation, observe_throttles


def events_of(logs) -> list:
    """The events of a logs element: a batch, or a ``(stream key, events)`` pair."""
    return logs[1] if isinstance(logs, tuple) else logs


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

    def process(self, logs):
        observations = observe_throttles(events_of(logs))
        self.throttles.inc(len(observations))
        yield from observations


class Detect(beam.PTransform):
    """(Invocations, logs, dead letters) → observations of each (logs: batches or
    ``(stream key, parsed events)`` pairs)."""

    def expand(self, pcolls):
        invocations, logs, dead_letters = pcolls
        from_invocations = invocations | "ObserveInvocations" >> beam.ParDo(_ObserveInvocation())
        from_lines = logs | "ObserveThrottleLines" >> beam.ParDo(_ObserveThrottleLines())
        from_dead = dead_letters | "ObserveDeadLetters" >> beam.Map(observe_dead_letter)
        return from_invocations, from_lines, from_dead  # not flattened: WindowMetrics combines each first
