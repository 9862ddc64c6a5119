"""WindowMetrics: Observations → one MetricPoint per function, version and minute.

The figures are a CombineFn over ``pipeline.metrics.WindowFigures`` (counts, percentile
sketches, concurrency deltas — all mergeable), so workers combine before the shuffle. The key
holds the window's start, which is what the batch shell groups by: Beam's DaskRunner groups by
key and ignores windows, and a keyed combine runs the same on every runner. Streaming runs
(``streaming=True``) also window the observations in one-minute event-time windows, so a
minute's point is emitted when the watermark passes it.
"""

from __future__ import annotations

import time

import apache_beam as beam

from pipeline.detect import WINDOW_MS, window_start
from pipeline.metrics import WindowFigures
from pipeline.model import DeadLetter, MetricPoint

PIPELINE_FUNCTION = "coldtrace-pipeline"  # coldtrace's own health, as a function of its own


class FiguresFn(beam.CombineFn):
    def create_accumulator(self) -> WindowFigures:
        return WindowFigures()

    def add_input(self, acc: WindowFigures, obs) -> WindowFigures:
        return acc.add(obs)

    def merge_accumulators(self, accumulators) -> WindowFigures:
        it = iter(accumulators)
        first = next(it)
        for acc in it:
            first.merge(acc)
        return first

    def extract_output(self, acc: WindowFigures) -> WindowFigures:
        return acc


def _to_point(key, figures: WindowFigures) -> MetricPoint:
    return figures.to_point(*key)


def _stamped(obs):
    from apache_beam.transforms.window import TimestampedValue

    return TimestampedValue(obs, (obs.start_ms if obs.start_ms is not None else obs.window_start_ms) / 1000.0)


class WindowMetrics(beam.PTransform):
    def __init__(self, streaming: bool = False, allowed_lateness_s: int = 15 * 60) -> None:
        super().__init__()
        self.streaming = streaming
        self.allowed_lateness_s = allowed_lateness_s

    def expand(self, observations):
        if self.streaming:
            from apache_beam.transforms.window import FixedWindows

            observations = (observations
                            | "AtWindowTime" >> beam.Map(_stamped)
                            | "Minutes" >> beam.WindowInto(FixedWindows(WINDOW_MS // 1000),
                                                           allowed_lateness=self.allowed_lateness_s))
        return (observations
                | "KeyByWindow" >> beam.Map(lambda obs: (obs.key(), obs))
                | "Figures" >> beam.CombinePerKey(FiguresFn())
                | "ToPoints" >> beam.MapTuple(_to_point))


def _dead_letter_window(dead: DeadLetter) -> tuple[int, int]:
    ms = dead.time_ms if dead.time_ms is not None else int(time.time() * 1000)
    return window_start(ms), 1


def _dead_letter_point(start: int, count: int) -> MetricPoint:
    return MetricPoint(function_name=PIPELINE_FUNCTION, window_start_ms=start, window_end_ms=start + WINDOW_MS,
                       source="pipeline", values={"dead_letters": count})


class DeadLetterMetrics(beam.PTransform):
    """DeadLetters → dead letters per minute, as MetricPoints of ``coldtrace-pipeline``."""

    def expand(self, dead_letters):
        return (dead_letters
                | "ByMinute" >> beam.Map(_dead_letter_window)
                | "Count" >> beam.CombinePerKey(sum)
                | "ToPoints" >> beam.MapTuple(_dead_letter_point))
