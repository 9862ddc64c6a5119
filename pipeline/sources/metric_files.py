"""Metric records from files: CloudWatch's figures (Throttles, IteratorAge, ...) as NDJSON.

Throttled invocations and a stream consumer's iterator age leave no log line, so they reach
coldtrace as metrics: one JSON object per line in the shape of a MetricPoint::

    {"function_name": "orders-api", "window_start_ms": 1714557600000, "window_end_ms": 1714557660000,
     "source": "cloudwatch", "values": {"throttles": 12, "iterator_age_max_ms": 4100.0}}

(``function_version``, ``account`` and ``region`` are optional; ``source`` defaults to
``cloudwatch``). The simulated fleet writes such a file; ``coldtrace run --metrics-input`` reads
them. A bad line becomes a DeadLetter naming the file, the line and the fault.
"""

from __future__ import annotations

from typing import IO, Any, Iterator

import apache_beam as beam
import orjson
from apache_beam.io import fileio
from apache_beam.metrics import Metrics

from pipeline.model import DeadLetter, MetricPoint

MAX_LINE = 1 << 20


def metric_point_from_record(rec: Any) -> MetricPoint:
    """A MetricPoint from its record form; ``ValueError`` names the bad field."""
    if not isinstance(rec, dict):
        raise ValueError("a metric record must be a JSON object")
    try:
        name, start, end = rec["function_name"], rec["window_start_ms"], rec["window_end_ms"]
    except KeyError as exc:
        raise ValueError(f"metric record lacks field {exc.args[0]!r}") from None
    if not isinstance(name, str) or not name:
        raise ValueError("metric record field 'function_name' must be a non-empty string")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)) or end <= start:
        raise ValueError("metric record window_start_ms/window_end_ms must be integers (ms), end after start")
    values = rec.get("values")
    if not isinstance(values, dict) or not values:
        raise ValueError("metric record field 'values' must be a non-empty object")
    for key, value in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"metric record value {key!r} is not a number")
    for key in ("function_version", "account", "region", "source"):
        if rec.get(key) is not None and not isinstance(rec[key], str):
            raise ValueError(f"metric record field {key!r} must be a string")
    return MetricPoint(function_name=name, window_start_ms=start, window_end_ms=end,
                       function_version=rec.get("function_version"), source=rec.get("source") or "cloudwatch",
                       account=rec.get("account"), region=rec.get("region"), values=dict(values))


def read_metric_records(fh: IO[bytes], source: str) -> Iterator[MetricPoint | DeadLetter]:
    """Every line of an NDJSON metrics file as a MetricPoint, or a DeadLetter with the reason."""
    for number, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            if len(line) > MAX_LINE:
                raise ValueError(f"line longer than {MAX_LINE} bytes")
            yield metric_point_from_record(orjson.loads(line))
        except (ValueError, orjson.JSONDecodeError) as exc:
            yield DeadLetter(raw=line[:MAX_LINE].decode("utf-8", "replace"), stage="read_metrics",
                             error=f"{source}:{number}: {exc}", source=source)


class _ReadMetricFile(beam.DoFn):
    def __init__(self) -> None:
        self.points = Metrics.counter("coldtrace", "metric_points_read")
        self.dead = Metrics.counter("coldtrace", "dead_letters_read")

    def process(self, readable: fileio.ReadableFile):
        path = readable.metadata.path
        with readable.open(compression_type=beam.io.filesystem.CompressionTypes.AUTO) as fh:
            for item in read_metric_records(fh, path):
                (self.dead if isinstance(item, DeadLetter) else self.points).inc()
                yield item


class ReadMetricFiles(beam.PTransform):
    """NDJSON metric files (local or s3://, gzip by extension) → MetricPoints and DeadLetters."""

    def __init__(self, patterns: list[str]) -> None:
        super().__init__()
        self.patterns = list(patterns)

    def expand(self, pbegin):
        return (pbegin
                | "Patterns" >> beam.Create(self.patterns)
                | "Match" >> fileio.MatchAll(empty_match_treatment=fileio.EmptyMatchTreatment.DISALLOW)
                | "Open" >> fileio.ReadMatches()
                | "Decode" >> beam.ParDo(_ReadMetricFile()))
