"""What the catch-up loop carries itself from one read to the next: traces and alarms. Pure.

The folds and metric windows are keyed and continue inside each read's Beam pipeline
(``carry.py``, ``windows.py``). Two things are better carried by the loop itself, after the read:
- the trace stitcher (``pipeline.stitch.gap.GapStitcher``): one union of trace keys over every
  invocation, emitting a trace once ``gap_ms`` of event time passed without a new member, and
  re-emitting it (same ids) when a late member joins within ``retention_ms``;
- each function's alarm evaluator (``pipeline.rules.FunctionAlarms``): it reads every metric
  point of the round, including the ones the loop makes after the read (the pipeline's own
  iterator age per minute, CloudWatch's GetMetricData figures).

Both advance by the watermark the round ran with, so they agree with the windows: a minute is
evaluated on time, once the watermark has passed its end (when its window emits its first
point), and re-evaluated when a corrected point for it arrives within the allowed lateness
(``FunctionAlarms`` keeps each rule's state from before it; only a net change is emitted); the
pipeline's own minutes (processing time: its iterator age, and its dead letters, whose windows
the read closes by the same clock) once they are over. A drain evaluates to the end of
the data, as a batch run does (not on into minutes nobody logged, which would turn every
function's rules to INSUFFICIENT_DATA). A transition is emitted once: the evaluator's state is
carried, so a later round never emits it again.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Iterable

from pipeline.model import Alarm, Invocation, MetricPoint, Span
from pipeline.rules import FunctionAlarms, RuleSet
from pipeline.stitch.gap import DEFAULT_GAP_MS, DEFAULT_RETENTION_MS, GapStitcher
from pipeline.windows import PIPELINE_FUNCTION, WINDOW_MS


@dataclass
class LoopStep:
    spans: list[Span] = field(default_factory=list)     # traces emitted or re-emitted, their spans
    traces: int = 0
    alarms: list[Alarm] = field(default_factory=list)   # state transitions, each emitted once
    late_points: int = 0                                # metric points for minutes already evaluated


class LoopState:
    """``step`` a round's traced invocations and metric points; ``dumps``/``loads`` between rounds."""

    def __init__(self, ruleset: RuleSet, gap_ms: int = DEFAULT_GAP_MS,
                 retention_ms: int = DEFAULT_RETENTION_MS) -> None:
        self.ruleset = ruleset
        self.stitcher = GapStitcher(gap_ms, retention_ms)
        self.functions: dict[str, FunctionAlarms] = {}
        self.data_end_ms: int | None = None    # the latest window end of the functions' own points

    def step(self, invocations: Iterable[Invocation], points: Iterable[MetricPoint], watermark_ms: int | None,
             lateness_ms: int, pipeline_until_ms: int, drain: bool = False, corrections: bool = True) -> LoopStep:
        """Add the round's invocations and points, then advance: ``watermark_ms`` (event time)
        for traces and the functions' minutes, ``pipeline_until_ms`` for coldtrace's own;
        ``drain``: everything, to the end of the data. ``corrections=False`` (``--no-corrections``)
        evaluates a function's minute only once the watermark has passed it by ``lateness_ms``,
        once, complete: the behaviour before on-time firing, kept for comparison."""
        out = LoopStep()
        for inv in invocations:
            self.stitcher.add(inv)
        if watermark_ms is not None:
            for trace in self.stitcher.advance(watermark_ms):
                out.spans.extend(trace)
                out.traces += 1
        for point in points:
            fa = self.functions.get(point.function_name)
            if fa is None:
                keep = 0 if point.function_name == PIPELINE_FUNCTION or not corrections else lateness_ms
                fa = self.functions[point.function_name] = FunctionAlarms(point.function_name, self.ruleset, keep)
            before = fa.late
            fa.add(point)
            out.late_points += fa.late - before
            if point.source != "pipeline":
                self.data_end_ms = max(self.data_end_ms or point.window_end_ms, point.window_end_ms)
        for name, fa in sorted(self.functions.items()):
            if fa.last_ms is None:
                continue
            if drain:
                until = max(self.data_end_ms or 0, fa.last_ms + WINDOW_MS)
            elif name == PIPELINE_FUNCTION:
                until = pipeline_until_ms
            elif watermark_ms is None:
                continue
            elif corrections:
                until = watermark_ms   # on time: corrections within the lateness re-evaluate
            else:
                until = watermark_ms - lateness_ms   # after the lateness: each minute once, complete
            out.alarms.extend(fa.advance(until))
        return out

    def dumps(self) -> bytes:
        """The state without the rules (they come from the run's settings when loaded)."""
        ruleset, self.ruleset = self.ruleset, None
        for fa in self.functions.values():
            fa.ruleset = None
        try:
            return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            self.ruleset = ruleset
            for fa in self.functions.values():
                fa.ruleset = ruleset

    @classmethod
    def loads(cls, blob: bytes | None, ruleset: RuleSet, gap_ms: int = DEFAULT_GAP_MS,
              retention_ms: int = DEFAULT_RETENTION_MS) -> "LoopState":
        """The carried state (or a fresh one), with this run's rules and trace gap: a rule
        changed between runs applies from the next period on; a new rule starts from scratch."""
        if blob is None:
            return cls(ruleset, gap_ms, retention_ms)
        state: LoopState = pickle.loads(blob)
        state.ruleset = ruleset
        for fa in state.functions.values():
            fa.ruleset = ruleset
            if not hasattr(fa, "keep_ms"):   # carried by a loop before on-time evaluation
                fa.keep_ms, fa.snapshots, fa.dirty_ms, fa.until_ms = 0, {}, None, None
        state.stitcher.gap_ms, state.stitcher.retention_ms = gap_ms, retention_ms
        return state
