"""Beam sources over CloudWatch: a FilterLogEvents backfill, and a GetMetricData poller.

- ``ReadCloudWatchLogs``: the events of a log group (or every group under a ``prefix*``) in a
  time range, cut into time slices read in parallel → batches of one log stream's events,
  the same shape the file and Kinesis sources give (``coldtrace run --input
  cloudwatch:///aws/lambda/orders?start=…&end=…``).
- ``PollLambdaMetrics``: every ``interval_s``, the last minutes of Throttles, Errors,
  ConcurrentExecutions, IteratorAge, DeadLetterErrors and AsyncEventAge per function →
  MetricPoints with source ``cloudwatch``. Throttled invocations leave no log line: this is how
  they are seen. (Endless: for runners that run unbounded pipelines; the local catch-up loop
  calls ``cloudwatch_api.metric_points`` itself.)
The API calls and their backoff live in ``cloudwatch_api`` (pure).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import apache_beam as beam
import boto3
from apache_beam.metrics import Metrics
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.transforms.window import TimestampedValue

from pipeline.sources import cloudwatch_api
from pipeline.sources.kinesis_shards import parse_time_ms


def parse_cloudwatch_uri(uri: str, now_ms: int | None = None) -> tuple[str, int | None, int | None]:
    """``cloudwatch://LOG_GROUP?start=…&end=…`` → (group or ``prefix*``, start ms, end ms).

    The group keeps its leading slash (``cloudwatch:///aws/lambda/orders``; two slashes also
    work: ``cloudwatch://aws/lambda/orders`` reads ``/aws/lambda/orders``). Times are ISO 8601,
    milliseconds, or ``-15m``/``-2h``/``-1d`` relative to now."""
    parts = urlsplit(uri)
    if parts.scheme != "cloudwatch":
        raise ValueError(f"{uri!r} is not a cloudwatch:// URI")
    group = (parts.netloc + parts.path) if parts.netloc else parts.path
    if not group.startswith("/") and group.startswith("aws/"):
        group = "/" + group
    if not group.strip("/"):
        raise ValueError(f"{uri!r} names no log group (cloudwatch:///aws/lambda/NAME?start=…&end=…)")
    query = parse_qs(parts.query)
    unknown = set(query) - {"start", "end"}
    if unknown:
        raise ValueError(f"{uri!r}: unknown parameter(s) {', '.join(sorted(unknown))} (start, end)")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    bounds = [_time(query[k][0], now) if k in query else None for k in ("start", "end")]
    if bounds[0] is not None and bounds[1] is not None and bounds[1] <= bounds[0]:
        raise ValueError(f"{uri!r}: end is not after start")
    return group, bounds[0], bounds[1]


def _time(text: str, now_ms: int) -> int:
    units = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
    if text.startswith("-") and text[-1:] in units and text[1:-1].isdigit():
        return now_ms - int(text[1:-1]) * units[text[-1]]
    return parse_time_ms(text)


def _client(service: str, region: str | None, endpoint_url: str | None) -> Any:
    return boto3.session.Session().client(service, region_name=region, endpoint_url=endpoint_url)


class _FilterLogEvents(beam.DoFn):
    def __init__(self, account: str | None, region: str | None, endpoint_url: str | None) -> None:
        self.account, self.region, self.endpoint_url = account, region, endpoint_url
        self.events = Metrics.counter("coldtrace", "events_read")
        self.pages = Metrics.counter("coldtrace", "cloudwatch_pages")

    def setup(self) -> None:
        self.client = _client("logs", self.region, self.endpoint_url)

    def process(self, item: tuple[str, int, int]):
        group, start, end = item
        for batch in cloudwatch_api.filter_log_events(self.client, group, start, end, account=self.account,
                                                      region=self.region, on_page=self.pages.inc):
            self.events.inc(len(batch))
            yield batch


class ReadCloudWatchLogs(beam.PTransform):
    """Log group (or ``prefix*``) and [start, end) → batches of one log stream's events."""

    def __init__(self, group: str, start_ms: int, end_ms: int, slices: int = 8, account: str | None = None,
                 region: str | None = None, endpoint_url: str | None = None) -> None:
        super().__init__()
        self.group, self.start_ms, self.end_ms, self.slices = group, start_ms, end_ms, slices
        self.account, self.region, self.endpoint_url = account, region, endpoint_url

    def expand(self, pbegin):
        region, endpoint, slices = self.region, self.endpoint_url, self.slices
        start, end = self.start_ms, self.end_ms

        def work(pattern: str):
            groups = cloudwatch_api.log_groups(_client("logs", region, endpoint), pattern)
            return [(g, a, b) for g in groups for a, b in cloudwatch_api.time_slices(start, end, slices)]

        return (pbegin
                | "Group" >> beam.Create([self.group])
                | "Slices" >> beam.FlatMap(work)
                | "Reshuffle" >> beam.Reshuffle()
                | "FilterLogEvents" >> beam.ParDo(_FilterLogEvents(self.account, self.region, self.endpoint_url)))


class _PollMetrics(beam.DoFn):
    def __init__(self, functions: list[str], lookback_s: int, account: str | None, region: str | None,
                 endpoint_url: str | None) -> None:
        self.functions, self.lookback_s = functions, lookback_s
        self.account, self.region, self.endpoint_url = account, region, endpoint_url

    def setup(self) -> None:
        self.client = _client("cloudwatch", self.region, self.endpoint_url)

    def process(self, fired_at: Any):
        end = int(float(fired_at) * 1000) // 60_000 * 60_000
        for point in cloudwatch_api.metric_points(self.client, self.functions, end - self.lookback_s * 1000, end,
                                                  account=self.account, region=self.region):
            yield TimestampedValue(point, point.window_start_ms / 1000.0)


class PollLambdaMetrics(beam.PTransform):
    """Every ``interval_s``: the functions' CloudWatch metrics of the last ``lookback_s``.

    Points re-read by overlapping polls keep their deterministic ids (source, function,
    window), so the index holds each minute once."""

    def __init__(self, functions: list[str], interval_s: float = 60.0, lookback_s: int = 300,
                 account: str | None = None, region: str | None = None, endpoint_url: str | None = None) -> None:
        super().__init__()
        self.functions, self.interval_s, self.lookback_s = list(functions), interval_s, lookback_s
        self.account, self.region, self.endpoint_url = account, region, endpoint_url

    def expand(self, pbegin):
        return (pbegin
                | "Every" >> PeriodicImpulse(fire_interval=self.interval_s)
                | "GetMetricData" >> beam.ParDo(_PollMetrics(self.functions, self.lookback_s, self.account,
                                                             self.region, self.endpoint_url)))
