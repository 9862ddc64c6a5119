"""ParseLogEvents: attach the parser's reading to every event of every batch.

Elements are batches (``list[LogEvent]``) or keyed batches (``(stream key, list[LogEvent])``,
as GroupByLogStream gives them); they leave in the shape they came.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.model import LogEvent
from pipeline.parse import CORRELATION_PATHS, parse_event


class _ParseBatch(beam.DoFn):
    def __init__(self, correlation_paths: tuple[str, ...]) -> None:
        self.correlation_paths = correlation_paths
        self.parsed = Metrics.counter("coldtrace", "events_parsed")

    def process(self, element: list[LogEvent] | tuple[str, list[LogEvent]]):
        batch = element[1] if isinstance(element, tuple) else element
        paths = self.correlation_paths
        for ev in batch:
            parse_event(ev, paths)
        self.parsed.inc(len(batch))
        yield element


class ParseLogEvents(beam.PTransform):
    def __init__(self, correlation_paths: tuple[str, ...] = CORRELATION_PATHS) -> None:
        super().__init__()
        self.correlation_paths = tuple(correlation_paths)

    def expand(self, batches):
        return batches | "ParseBatch" >> beam.ParDo(_ParseBatch(self.correlation_paths))
