"""One-minute event-time windows for metrics in the endless graph, emitted once each.

Metric documents have deterministic ids and are written with ``create``, so a window must be
emitted once, complete — not an on-time pane followed by late panes that an index would
reject as duplicates. ``MinuteWindows`` assigns each element to its minute but lets the
window *close* ``lateness_ms`` after the minute ends: the watermark trigger then fires once,
when the watermark has passed the minute plus the allowed lateness, with every observation
that arrived in time; anything later is dropped by the runner as behind the window (and
counted in Beam's dropped-due-to-lateness counter). The catch-up loop does the same by hand
(``pipeline.streaming.windows``).
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.coders import coders
from apache_beam.transforms.window import IntervalWindow, NonMergingWindowFn
from apache_beam.utils.timestamp import Duration, Timestamp

from pipeline.detect.observation import WINDOW_MS, Observation
from pipeline.metrics import WindowFigures
from pipeline.model import MetricPoint
from pipeline.streaming.health import age_point
from pipeline.streaming.windows import ALLOWED_LATENESS_MS


class MinuteWindows(NonMergingWindowFn):
    """[minute start, minute end + lateness): one window per minute, closing late."""

    def __init__(self, lateness_ms: int = ALLOWED_LATENESS_MS, size_ms: int = WINDOW_MS) -> None:
        self.lateness_ms, self.size_ms = lateness_ms, size_ms

    def assign(self, context):
        micros = context.timestamp.micros
        start = micros - micros % (self.size_ms * 1000)
        return [IntervalWindow(Timestamp(micros=start),
                               Timestamp(micros=start) + Duration(micros=(self.size_ms + self.lateness_ms) * 1000))]

    def get_window_coder(self):
        return coders.IntervalWindowCoder()

    def __eq__(self, other):
        return type(self) is type(other) and (self.lateness_ms, self.size_ms) == (other.lateness_ms, other.size_ms)

    def __hash__(self):
        return hash((type(self), self.lateness_ms, self.size_ms))


def minute_windows(lateness_ms: int) -> beam.WindowInto:
    """Into ``MinuteWindows``, firing once (a watermark trigger that finishes when it fires)."""
    from apache_beam.transforms.trigger import AccumulationMode, AfterWatermark

    return beam.WindowInto(MinuteWindows(lateness_ms), trigger=AfterWatermark(),
                           accumulation_mode=AccumulationMode.DISCARDING)


def window_start_ms(window: IntervalWindow) -> int:
    return int(window.start.micros // 1000)


class WindowFiguresFn(beam.CombineFn):
    """``pipeline.metrics.WindowFigures`` as a CombineFn (mergeable: combined before the shuffle)."""

    def create_accumulator(self) -> WindowFigures:
        return WindowFigures()

    def add_input(self, acc: WindowFigures, obs: Observation) -> WindowFigures:
        return acc.add(obs)

    def merge_accumulators(self, accs) -> WindowFigures:
        it = iter(accs)
        out = next(it)
        for acc in it:
            out.merge(acc)
        return out

    def extract_output(self, acc: WindowFigures) -> WindowFigures:
        return acc


class _ToPoint(beam.DoFn):
    def process(self, kv, window=beam.DoFn.WindowParam):
        (fn, version), figures = kv
        yield figures.to_point(fn, version, window_start_ms(window))


class WindowMetrics(beam.PTransform):
    """Observations → one MetricPoint per function, version and minute, emitted once."""

    def __init__(self, lateness_ms: int = ALLOWED_LATENESS_MS) -> None:
        super().__init__()
        self.lateness_ms = lateness_ms

    def expand(self, observations):
        from apache_beam.transforms.window import TimestampedValue

        return (observations
                | "AtWindowStart" >> beam.Map(lambda o: TimestampedValue(o, o.window_start_ms / 1000.0))
                | "Minutes" >> minute_windows(self.lateness_ms)
                | "ByFunction" >> beam.Map(lambda o: ((o.function_name, o.function_version), o))
                | "Figures" >> beam.CombinePerKey(WindowFiguresFn())
                | "ToPoint" >> beam.ParDo(_ToPoint()))


class _AgePoint(beam.DoFn):
    def process(self, age: int, window=beam.DoFn.WindowParam):
        yield age_point(window_start_ms(window), age)


class IteratorAgePerMinute(beam.PTransform):
    """The reader's per-bundle iterator-age MetricPoints → the maximum per minute, emitted once."""

    def __init__(self, lateness_ms: int = ALLOWED_LATENESS_MS) -> None:
        super().__init__()
        self.lateness_ms = lateness_ms

    def expand(self, health):
        return (health
                | "Age" >> beam.Map(lambda p: p.values["iterator_age_max_ms"])
                | "Minutes" >> minute_windows(self.lateness_ms)
                | "Max" >> beam.CombineGlobally(max).without_defaults()
                | "ToPoint" >> beam.ParDo(_AgePoint()))


__all__ = ["MinuteWindows", "WindowFiguresFn", "WindowMetrics", "IteratorAgePerMinute", "MetricPoint"]
