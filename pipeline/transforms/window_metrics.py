"""WindowMetrics: Observations → one MetricPoint per function, version and minute.

One implementation for batch and streaming. The figures are a CombineFn over
``pipeline.metrics.WindowFigures`` (counts, percentile sketches, concurrency deltas — all
mergeable), so workers combine before the shuffle. The key holds the window's start, which is
what the batch shell groups by: Beam's DaskRunner groups by key and ignores windows, and a
keyed combine runs the same on every runner. Streaming (``streaming=True``) first puts the
observations into ``MinuteWindows`` (pipeline/transforms/minute_windows.py): each minute's
point is emitted on time, when the watermark has passed the minute's end, and again, corrected
(same document id, accumulating panes), for an observation that arrives up to the allowed
lateness plus ``CORRECTION_MS`` later.
Dead letters are observations too (``pipeline.detect.observe_dead_letter``): they are counted
here, per minute, as the ``coldtrace-pipeline`` point, in every mode.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.transforms.window import TimestampedValue

from pipeline.detect.health import HEALTH_FIGURES, max_values, minute_point
from pipeline.metrics import WindowFigures
from pipeline.model import MetricPoint
from pipeline.transforms.mergeable_combine import MergeableCombineFn
from pipeline.transforms.minute_windows import minute_windows, window_start_ms
from pipeline.windows import ALLOWED_LATENESS_MS, CORRECTION_MS


def _keyed(obs):
    return obs.key(), obs


def _to_point(key, figures: WindowFigures) -> MetricPoint:
    return figures.to_point(*key)


def _at_window_start(obs):
    return TimestampedValue(obs, obs.window_start_ms / 1000.0)


class WindowMetrics(beam.PTransform):
    """Observations → MetricPoints. ``streaming``: in one-minute event-time windows that wait
    ``lateness_ms`` past their end, then fire; a late observation within ``correction_ms``
    fires the window again with every observation so far (a corrected point, same id)."""

    def __init__(self, streaming: bool = False, lateness_ms: int = ALLOWED_LATENESS_MS,
                 correction_ms: int = CORRECTION_MS) -> None:
        super().__init__()
        self.streaming = streaming
        self.lateness_ms, self.correction_ms = lateness_ms, correction_ms

    def expand(self, observations):
        if isinstance(observations, (tuple, list)):
            if not self.streaming:
                return self._combine_each(observations)
            observations = observations | "AllObservations" >> beam.Flatten()
        if self.streaming:
            observations = (observations
                            | "AtWindowStart" >> beam.Map(_at_window_start)
                            # on time at the minute's end; every late pane up to the lateness
                            # and the correction period after it is a corrected point (same id)
                            | "Minutes" >> minute_windows(0, self.lateness_ms + self.correction_ms))
        return (observations
                | "KeyByWindow" >> beam.Map(_keyed)
                | "Figures" >> beam.CombinePerKey(MergeableCombineFn(WindowFigures))
                | "ToPoints" >> beam.MapTuple(_to_point))

    @staticmethod
    def _combine_each(parts):
        """Batch, several observation PCollections: each is combined where it is made (the
        combine's partial step runs in the producing stage), and only the per-minute figures
        are flattened and merged. Flattening the observations first would send every one of
        them through the runner: a Flatten is a materialisation point in Beam's portable runners."""
        figures = [part
                   | f"KeyByWindow{i}" >> beam.Map(_keyed)
                   | f"Figures{i}" >> beam.CombinePerKey(MergeableCombineFn(WindowFigures))
                   for i, part in enumerate(parts)]
        return (figures
                | "AllFigures" >> beam.Flatten()
                | "MergeFigures" >> beam.CombinePerKey(MergeableCombineFn(WindowFigures, parts=True))
                | "ToPoints" >> beam.MapTuple(_to_point))


class _AgePoint(beam.DoFn):
    def process(self, figures: dict, window=beam.DoFn.WindowParam):
        yield minute_point(window_start_ms(window), figures)


def _health_figures(point) -> dict:
    return {k: point.values[k] for k in HEALTH_FIGURES if point.values.get(k) is not None}


class IteratorAgePerMinute(beam.PTransform):
    """Streaming: the reader's per-bundle health MetricPoints (iterator age, delivery delay) →
    the maximum of each per minute, emitted once (the same minute windows as ``WindowMetrics``)."""

    def __init__(self, lateness_ms: int = ALLOWED_LATENESS_MS) -> None:
        super().__init__()
        self.lateness_ms = lateness_ms

    def expand(self, health):
        return (health
                | "Age" >> beam.Map(_health_figures)
                | "Minutes" >> minute_windows(self.lateness_ms)
                | "Max" >> beam.CombineGlobally(max_values).without_defaults()
                | "ToPoint" >> beam.ParDo(_AgePoint()))


__all__ = ["WindowMetrics", "IteratorAgePerMinute"]
