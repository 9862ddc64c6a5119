"""CloudWatch calls behind the cloudwatch source: FilterLogEvents and GetMetricData. Pure.

Clients are passed in. Both APIs page with ``nextToken``/``NextToken`` and answer
``ThrottlingException`` when called too often; both are backed off with jitter here.

- ``filter_log_events``: a log group's events in a time range → batches of one log stream's
  LogEvents (the shape every reader gives), with CloudWatch's event ids (so a backfill that
  overlaps the live stream indexes each line once) and the ingestion time as arrival time.
- ``metric_points``: the Lambda metrics that logs cannot show — throttled invocations leave no
  log line — per function and period, as MetricPoints with source ``cloudwatch``. Only
  Sum/Maximum statistics are asked for (no percentiles: not every endpoint answers them).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator

from pipeline.model import LogEvent, MetricPoint
from pipeline.parse.awslogs import enrich
from pipeline.sources.kinesis_shards import Backoff, call_with_backoff

# CloudWatch metric (AWS/Lambda namespace) → (statistic, MetricPoint value name)
LAMBDA_METRICS: dict[str, tuple[str, str]] = {
    "Throttles": ("Sum", "throttles"),
    "Errors": ("Sum", "errors"),
    "ConcurrentExecutions": ("Maximum", "max_concurrency"),
    "IteratorAge": ("Maximum", "iterator_age_max_ms"),
    "DeadLetterErrors": ("Sum", "dead_letter_errors"),
    "AsyncEventAge": ("Maximum", "async_event_age_max_ms"),
}
MAX_QUERIES = 500   # GetMetricData's limit of metric queries per call


def log_groups(client: Any, pattern: str, backoff: Backoff | None = None,
               sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """``pattern`` itself, or every log group whose name starts with it when it ends in ``*``."""
    if not pattern.endswith("*"):
        return [pattern]
    backoff = backoff or Backoff()
    names: list[str] = []
    kwargs: dict[str, Any] = {"logGroupNamePrefix": pattern[:-1]}
    while True:
        resp = call_with_backoff(client.describe_log_groups, backoff, sleep, **kwargs)
        names.extend(g["logGroupName"] for g in resp.get("logGroups", []))
        if not resp.get("nextToken"):
            return names
        kwargs["nextToken"] = resp["nextToken"]


def filter_log_events(client: Any, group: str, start_ms: int, end_ms: int, *, account: str | None = None,
                      region: str | None = None, backoff: Backoff | None = None,
                      sleep: Callable[[float], None] = time.sleep,
                      on_page: Callable[[], None] | None = None) -> Iterator[list[LogEvent]]:
    """Events of ``group`` with ``start_ms <= timestamp < end_ms``, one batch per stream per page."""
    backoff = backoff or Backoff()
    kwargs: dict[str, Any] = {"logGroupName": group, "startTime": int(start_ms), "endTime": int(end_ms) - 1,
                              "limit": 10_000}
    while True:
        resp = call_with_backoff(client.filter_log_events, backoff, sleep, **kwargs)
        if on_page is not None:
            on_page()
        by_stream: dict[str, list[LogEvent]] = {}
        for e in resp.get("events", []):
            stream = e.get("logStreamName", "")
            ev = LogEvent(id=str(e.get("eventId") or f"{stream}:{e['timestamp']}"), timestamp=int(e["timestamp"]),
                          message=e.get("message", ""), log_group=group, log_stream=stream, account=account,
                          region=region, arrival_ms=e.get("ingestionTime"))
            by_stream.setdefault(stream, []).append(enrich(ev))
        yield from by_stream.values()
        token = resp.get("nextToken")
        if not token or token == kwargs.get("nextToken"):
            return
        kwargs["nextToken"] = token


def time_slices(start_ms: int, end_ms: int, parts: int) -> list[tuple[int, int]]:
    """[start, end) cut into ``parts`` contiguous slices (for parallel backfill readers)."""
    parts = max(1, min(parts, max(1, end_ms - start_ms)))
    step = (end_ms - start_ms) / parts
    edges = [start_ms + round(i * step) for i in range(parts)] + [end_ms]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def metric_queries(functions: Iterable[str], period_s: int = 60) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for f, fn in enumerate(functions):
        for m, (metric, (stat, _name)) in enumerate(LAMBDA_METRICS.items()):
            out.append({"Id": f"f{f}m{m}", "ReturnData": True, "MetricStat": {
                "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric,
                           "Dimensions": [{"Name": "FunctionName", "Value": fn}]},
                "Period": period_s, "Stat": stat}})
    return out


def _ms(ts: Any) -> int:
    return int(ts.timestamp() * 1000) if hasattr(ts, "timestamp") else int(ts)


def metric_points(client: Any, functions: list[str], start_ms: int, end_ms: int, *, period_s: int = 60,
                  account: str | None = None, region: str | None = None, backoff: Backoff | None = None,
                  sleep: Callable[[float], None] = time.sleep) -> list[MetricPoint]:
    """One MetricPoint per function and period that has data, values named as in METRIC_NAMES."""
    backoff = backoff or Backoff()
    names = list(LAMBDA_METRICS.values())
    values: dict[tuple[str, int], dict[str, float | int | None]] = {}
    for i in range(0, len(functions), MAX_QUERIES // len(LAMBDA_METRICS)):
        chunk = functions[i:i + MAX_QUERIES // len(LAMBDA_METRICS)]
        kwargs: dict[str, Any] = {
            "MetricDataQueries": metric_queries(chunk, period_s),
            "StartTime": datetime.fromtimestamp(start_ms / 1000, tz=timezone.utc),
            "EndTime": datetime.fromtimestamp(end_ms / 1000, tz=timezone.utc), "ScanBy": "TimestampAscending"}
        while True:
            resp = call_with_backoff(client.get_metric_data, backoff, sleep, **kwargs)
            for result in resp.get("MetricDataResults", []):
                f, m = result["Id"][1:].split("m")
                fn, name = chunk[int(f)], names[int(m)][1]
                for ts, value in zip(result.get("Timestamps", []), result.get("Values", [])):
                    slot = values.setdefault((fn, _ms(ts)), {})
                    slot[name] = int(value) if name != "iterator_age_max_ms" and float(value).is_integer() else value
            if not resp.get("NextToken"):
                break
            kwargs["NextToken"] = resp["NextToken"]
    return [MetricPoint(function_name=fn, window_start_ms=start, window_end_ms=start + period_s * 1000,
                        source="cloudwatch", account=account, region=region, values=vals)
            for (fn, start), vals in sorted(values.items())]
