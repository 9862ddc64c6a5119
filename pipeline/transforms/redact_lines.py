"""RedactLines: secrets and personal data out of every line (and dead letter) of a source.

The batch readers redact as they read (``pipeline.sources.files``); the streaming sources
(Kinesis, CloudWatch, watched files) pass through this one transform instead, right after the
read and before any sink sees a line. The rules are ``pipeline.parse.redact`` (shared with the
forwarder, which redacts before shipping: a line redacted twice is unchanged).
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.model import DeadLetter
from pipeline.parse.redact import redact_dead_letter


class _Redact(beam.DoFn):
    def __init__(self, redactor) -> None:
        self.redactor = redactor
        self.redacted = Metrics.counter("coldtrace", "values_redacted")

    def process(self, item):
        if isinstance(item, DeadLetter):
            yield redact_dead_letter(self.redactor, item)
            return
        self.redacted.inc(sum(self.redactor.redact_events(item).values()))
        yield item


class RedactLines(beam.PTransform):
    """Event batches or DeadLetters → the same, redacted (``redactor`` None: unchanged)."""

    def __init__(self, redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def expand(self, items):
        if not self.redactor:
            return items
        return items | "Redact" >> beam.ParDo(_Redact(self.redactor))
