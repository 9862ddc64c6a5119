"""CarryWindows: one-minute metric windows continued across the local catch-up reads.

Observations and the carried windows ``(key, pickled figures)`` meet in a CoGroupByKey;
``pipeline.carry.windows.resume_window`` adds, and emits each window once the watermark
has passed its end plus the allowed lateness (and again, corrected, when a late observation
arrives while it can still be corrected). coldtrace's own minutes (its dead letters) close by
the loop's clock (``clock_ms``), as the loop evaluates their alarms: processing time. Outputs: MetricPoints (main), ``carry``.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.carry.windows import resume_window
from pipeline.windows import ALLOWED_LATENESS_MS, PIPELINE_FUNCTION, draining


class _Resume(beam.DoFn):
    def __init__(self, watermark_ms: int | None, lateness_ms: int, clock_ms: int | None) -> None:
        self.watermark_ms, self.lateness_ms, self.clock_ms = watermark_ms, lateness_ms, clock_ms
        self.late = Metrics.counter("coldtrace", "late_observations_dropped")

    def process(self, item):
        key, groups = item
        old = list(groups["old"])
        watermark, lateness = self.watermark_ms, self.lateness_ms
        if key[0] == PIPELINE_FUNCTION and self.clock_ms is not None and not draining(watermark):
            watermark, lateness = self.clock_ms, 0   # coldtrace's own minutes: by the clock
        step = resume_window(key, old[0] if old else None, list(groups["new"]), watermark, lateness)
        self.late.inc(step.late)
        if step.point is not None:
            yield step.point
        if step.state is not None:
            yield beam.pvalue.TaggedOutput("carry", (key, step.state))


class CarryWindows(beam.PTransform):
    """(Observations, carried windows) → MetricPoints of closed windows, with tagged ``carry``."""

    def __init__(self, watermark_ms: int | None, lateness_ms: int = ALLOWED_LATENESS_MS,
                 clock_ms: int | None = None) -> None:
        super().__init__()
        self.watermark_ms, self.lateness_ms, self.clock_ms = watermark_ms, lateness_ms, clock_ms

    def expand(self, inputs):
        observations, carried = inputs
        keyed = observations | "KeyByWindow" >> beam.Map(lambda o: (o.key(), o))
        return ({"new": keyed, "old": carried}
                | "JoinCarried" >> beam.CoGroupByKey()
                | "Resume" >> beam.ParDo(_Resume(self.watermark_ms, self.lateness_ms, self.clock_ms)).with_outputs("carry", main="points"))
