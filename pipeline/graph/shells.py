"""The three shells a mode chooses between: what differs is only how the fold, the metric
windows, the traces, the alarms and the advice aggregate keep their state.

- ``BatchShell``: GroupByKey by log stream + the pure fold; keyed combines; grouped traces and
  alarms. Portable to every runner (DaskRunner has no state API).
- ``StatefulShell``: keyed state + event-time timers; one-minute event-time windows that close
  late and then correct. For unbounded runners (Flink, Dataflow; BundleBasedDirectRunner
  in streaming mode locally).
- ``CatchUpShell``: one bounded read of the local catch-up loop: the fold and the windows
  continue from carried state (written back by the loop); traces and alarms are continued by
  the loop itself after the read (``pipeline.streaming.loop_state``), so this shell returns None
  for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import apache_beam as beam

from pipeline.parse import CORRELATION_PATHS
from pipeline.rules import RuleSet
from pipeline.sinks.ledger_files import split_ledger
from pipeline.sources.files import split_dead_letters
from pipeline.transforms.advice import FoldAdvice, FoldAdvicePerFunction, RegressionAlarms, RegressionAlarmsOnce
from pipeline.transforms.build_invocations import BuildInvocations, BuildInvocationsStreaming, GroupByLogStream
from pipeline.transforms.carry_windows import CarryWindows
from pipeline.transforms.evaluate_alarms import EvaluateAlarms, EvaluateAlarmsStreaming
from pipeline.transforms.parse_log_events import ParseLogEvents
from pipeline.transforms.resume_fold import ResumeFolds
from pipeline.transforms.stitch_traces import StitchTraces, StitchTracesStreaming
from pipeline.transforms.window_metrics import WindowMetrics
from pipeline.windows import ALLOWED_LATENESS_MS


@dataclass
class Folded:
    logs: Any          # the logs index: batches or (stream key, parsed events in time order)
    invocations: Any   # Invocations
    dead: Any = None   # DeadLetters of failed folds (None: this shell has none)


@dataclass
class Advised:
    aggregate: Any = None   # the advice aggregate(s) (None: this mode keeps none)
    alarms: Any = None      # regression findings as Alarms (None: not asked, or raised by the loop)


class BatchShell:
    def __init__(self, architectures: dict[str, str], correlation_paths: tuple[str, ...], rules: RuleSet,
                 compress: bool = False) -> None:
        self.architectures, self.correlation_paths, self.rules = architectures, correlation_paths, rules
        self.compress = compress
        self.stream_counts = None   # the ledger's per-stream counts (pipeline.ledger), after fold()

    def fold(self, batches) -> Folded:
        grouped, self.stream_counts = split_ledger(
            batches | "GroupByLogStream" >> GroupByLogStream(counts=True, compress=self.compress), "Group")
        streams = grouped | "ParseLogEvents" >> ParseLogEvents(self.correlation_paths)
        invocations, dead = split_dead_letters(
            streams | "BuildInvocations" >> BuildInvocations(self.architectures), "Fold")
        return Folded(streams, invocations, dead)

    def windows(self, observations: tuple):
        return observations | "WindowMetrics" >> WindowMetrics()

    def traces(self, invocations):
        self.stitch = StitchTraces()   # its whole traces feed the report's aggregate
        return invocations | "StitchTraces" >> self.stitch

    def alarms(self, points):
        return points | "EvaluateAlarms" >> EvaluateAlarms(self.rules)

    def advice(self, invocations, with_alarms: bool) -> Advised:
        aggregate = invocations | "FoldAdvice" >> FoldAdvice()
        return Advised(aggregate, aggregate | "RegressionAlarms" >> RegressionAlarms() if with_alarms else None)


class StatefulShell:
    def __init__(self, architectures: dict[str, str], correlation_paths: tuple[str, ...], rules: RuleSet,
                 lateness_ms: int = ALLOWED_LATENESS_MS, trace_gap_ms: int | None = None,
                 trace_retention_ms: int | None = None) -> None:
        self.architectures, self.correlation_paths, self.rules = architectures, correlation_paths, rules
        self.lateness_ms, self.trace_gap_ms, self.trace_retention_ms = lateness_ms, trace_gap_ms, trace_retention_ms

    def fold(self, batches) -> Folded:
        parsed = batches | "ParseLogEvents" >> ParseLogEvents(self.correlation_paths)
        return Folded(parsed, parsed | "BuildInvocations" >> BuildInvocationsStreaming(self.architectures))

    def windows(self, observations: tuple):
        return observations | "WindowMetrics" >> WindowMetrics(streaming=True, lateness_ms=self.lateness_ms)

    def traces(self, invocations):
        return invocations | "StitchTraces" >> StitchTracesStreaming(self.trace_gap_ms, self.trace_retention_ms)

    def alarms(self, points):
        return points | "EvaluateAlarms" >> EvaluateAlarmsStreaming(self.rules, self.lateness_ms)

    def advice(self, invocations, with_alarms: bool) -> Advised:
        if not with_alarms:   # an endless job writes no advice file: its aggregate only raises alarms
            return Advised()
        aggregates = invocations | "FoldAdvice" >> FoldAdvicePerFunction()
        return Advised(aggregates, aggregates | "RegressionAlarms" >> RegressionAlarmsOnce())


class CatchUpShell:
    """``folds`` and ``windows``: the carried state's PCollections; after assembly, ``fold_carry``
    and ``window_carry`` are the state to hand to the next read."""

    def __init__(self, architectures: dict[str, str], correlation_paths: tuple[str, ...] = CORRELATION_PATHS,
                 watermark_ms: int | None = None, lateness_ms: int = ALLOWED_LATENESS_MS,
                 folds: Any = None, windows: Any = None, clock_ms: int | None = None) -> None:
        self.architectures, self.correlation_paths, self.clock_ms = architectures, correlation_paths, clock_ms
        self.watermark_ms, self.lateness_ms = watermark_ms, lateness_ms
        self.carried_folds, self.carried_windows = folds, windows
        self.fold_carry = self.window_carry = None

    def fold(self, batches) -> Folded:
        resumed = (batches, self.carried_folds) | "ResumeFolds" >> ResumeFolds(
            self.architectures, self.watermark_ms, self.correlation_paths)
        self.fold_carry = resumed.carry
        return Folded(resumed.logs, resumed.invocations, resumed.dead)

    def windows(self, observations: tuple):
        flat = observations | "Observations" >> beam.Flatten()
        out = (flat, self.carried_windows) | "CarryWindows" >> CarryWindows(self.watermark_ms, self.lateness_ms, self.clock_ms)
        self.window_carry = out.carry
        return out.points

    def traces(self, invocations):
        return None     # continued by the loop: pipeline.streaming.loop_state

    def alarms(self, points):
        return None     # idem

    def advice(self, invocations, with_alarms: bool) -> Advised:
        if not with_alarms:
            return Advised()
        # the read's share: the loop merges it into the carried aggregate and raises each
        # regression once (pipeline.streaming.loop_advice)
        return Advised(invocations | "FoldAdvice" >> FoldAdvice(timeline=False))
