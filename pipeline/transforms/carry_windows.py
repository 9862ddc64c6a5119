"""CarryWindows: one-minute metric windows continued across the local catch-up reads.

Observations and the carried windows ``(key, pickled figures)`` meet in a CoGroupByKey;
``pipeline.carry.windows.resume_window`` adds, and emits each window once the watermark
has passed its end plus the allowed lateness (and again, corrected, when a late observation
arrives while it can still be corrected). Outputs: MetricPoints (main), ``carry``.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.carry.windows import resume_window
from pipeline.windows import ALLOWED_LATENESS_MS


class _Resume(beam.DoFn):
    def __init__(self, watermark_ms: int | None, lateness_ms: int) -> None:
        self.watermark_ms, self.lateness_ms = watermark_ms, lateness_ms
        self.late = Metrics.counter("coldtrace", "late_observations_dropped")

    def process(self, item):
        key, groups = item
        old = list(groups["old"])
        step = resume_window(key, old[0] if old else None, list(groups["new"]), self.watermark_ms, self.lateness_ms)
        self.late.inc(step.late)
        if step.point is not None:
            yield step.point
        if step.state is not None:
            yield beam.pvalue.TaggedOutput("carry", (key, step.state))


class CarryWindows(beam.PTransform):
    """(Observations, carried windows) → MetricPoints of closed windows, with tagged ``carry``."""

    def __init__(self, watermark_ms: int | None, lateness_ms: int = ALLOWED_LATENESS_MS) -> None:
        super().__init__()
        self.watermark_ms, self.lateness_ms = watermark_ms, lateness_ms

    def expand(self, inputs):
        observations, carried = inputs
        keyed = observations | "KeyByWindow" >> beam.Map(lambda o: (o.key(), o))
        return ({"new": keyed, "old": carried}
                | "JoinCarried" >> beam.CoGroupByKey()
                | "Resume" >> beam.ParDo(_Resume(self.watermark_ms, self.lateness_ms)).with_outputs("carry", main="points"))
