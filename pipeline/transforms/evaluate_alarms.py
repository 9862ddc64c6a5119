"""EvaluateAlarms: MetricPoints → Alarm state transitions, one function at a time.

A thin shell over ``pipeline.rules.FunctionAlarms``. Batch: every point of a function is
grouped (GroupByKey, portable to every runner) and evaluated to the end of the data, the
latest window of any function's logs or metrics (a side input): a function that went quiet
has its rules evaluated over the missing minutes too. Streaming
(``EvaluateAlarmsStreaming``): the same object lives in keyed state and advances when an
event-time timer fires at the end of each minute (the windows' on-time pane); a corrected
point within the allowed lateness is re-evaluated (``FunctionAlarms`` keeps the rules' states
that long; only a net change is emitted, once). The catch-up loop advances the
same object by its watermark (``pipeline.streaming.loop_state``).
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import GlobalWindows, TimestampedValue

from pipeline.rules import FunctionAlarms, RuleSet, evaluate_points
from pipeline.windows import PIPELINE_FUNCTION, WINDOW_MS, window_start


class _MaxEnd(beam.CombineFn):
    """The end of the data: the latest window end of logs and metrics (None when empty)."""

    def create_accumulator(self):
        return None

    def add_input(self, acc, point):
        if point.source == "pipeline":  # coldtrace's own health runs on processing time
            return acc
        return point.window_end_ms if acc is None else max(acc, point.window_end_ms)

    def merge_accumulators(self, accs):
        found = [a for a in accs if a is not None]
        return max(found) if found else None

    def extract_output(self, acc):
        return acc


class _Evaluate(beam.DoFn):
    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.raised = Metrics.counter("coldtrace", "alarms_raised")
        self.cleared = Metrics.counter("coldtrace", "alarms_cleared")

    def process(self, keyed, horizon_ms):
        function, points = keyed
        points = list(points)
        last = max(window_start(p.window_start_ms) for p in points)
        alarms = evaluate_points(function, points, self.ruleset, max(horizon_ms or 0, last + WINDOW_MS))
        for alarm in alarms:
            (self.raised if alarm.state == "ALARM" else self.cleared).inc()
        yield from alarms


class EvaluateAlarms(beam.PTransform):
    """MetricPoints (any source, any version) → Alarms (batch)."""

    def __init__(self, ruleset: RuleSet) -> None:
        super().__init__()
        self.ruleset = ruleset

    def expand(self, points):
        horizon = points | "EndOfData" >> beam.CombineGlobally(_MaxEnd())
        return (points
                | "ByFunction" >> beam.Map(lambda p: (p.function_name, p))
                | "GroupByFunction" >> beam.GroupByKey()
                | "Evaluate" >> beam.ParDo(_Evaluate(self.ruleset), beam.pvalue.AsSingleton(horizon)))


class _EvaluateStateful(beam.DoFn):
    """One function's FunctionAlarms in keyed state, advanced by a watermark timer."""

    STATE = ReadModifyWriteStateSpec("alarms", PickleCoder())
    TICK = TimerSpec("tick", TimeDomain.WATERMARK)

    def __init__(self, ruleset: RuleSet, lateness_ms: int = 0) -> None:
        self.ruleset, self.lateness_ms = ruleset, lateness_ms
        self.late = Metrics.counter("coldtrace", "late_metric_points")

    def process(self, keyed, state=beam.DoFn.StateParam(STATE), tick=beam.DoFn.TimerParam(TICK)):
        function, point = keyed
        keep = 0 if function == PIPELINE_FUNCTION else self.lateness_ms
        fa = state.read() or FunctionAlarms(function, self.ruleset, keep)
        before = fa.late
        fa.add(point)
        self.late.inc(fa.late - before)
        state.write(fa)
        tick.set(point.window_end_ms / 1000.0)   # on time; a corrected point re-evaluates at once

    @on_timer(TICK)
    def on_tick(self, ts=beam.DoFn.TimestampParam, state=beam.DoFn.StateParam(STATE),
                tick=beam.DoFn.TimerParam(TICK)):
        fa: FunctionAlarms | None = state.read()
        if fa is None or fa.last_ms is None:
            return
        now_ms = int(ts.micros // 1000)   # every window ending by now has its on-time point
        alarms = fa.advance(now_ms)
        state.write(fa)
        if now_ms < (fa.settle_ms() or 0):  # evaluate the missing minutes until no state can change
            tick.set((now_ms + WINDOW_MS) / 1000.0)
        for alarm in alarms:
            yield TimestampedValue(alarm, alarm.time_ms / 1000.0)


class EvaluateAlarmsStreaming(beam.PTransform):
    """MetricPoints → Alarms, in keyed state; for unbounded pipelines (needs a state API).
    ``lateness_ms``: the allowed lateness of the windows the points come from."""

    def __init__(self, ruleset: RuleSet, lateness_ms: int = 0) -> None:
        super().__init__()
        self.ruleset, self.lateness_ms = ruleset, lateness_ms

    def expand(self, points):
        return (points
                | "GlobalWindow" >> beam.WindowInto(GlobalWindows())
                | "ByFunction" >> beam.Map(lambda p: (p.function_name, p))
                | "EvaluateInState" >> beam.ParDo(_EvaluateStateful(self.ruleset, self.lateness_ms)))
