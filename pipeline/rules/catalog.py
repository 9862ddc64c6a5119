"""What a rule can watch: the statistics over MetricPoint values, and how windows combine.

A rule names a statistic. ``sum`` statistics add up over a period, ``max`` ones take the
largest value, ``ratio`` ones divide the sums of a numerator and a denominator (so a 5-minute
error rate is errors over invocations of those 5 minutes, not an average of rates).

One function's window may have several MetricPoints: one per version, and one per source
(``logs`` computed here, ``cloudwatch`` from the metrics poller, ``pipeline`` for coldtrace's own
health). Versions add up (their invocations are distinct); sources take the larger figure, as
they count the same events two ways (a throttle is in CloudWatch's Throttles and in the caller's
log line).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from pipeline.model import MetricPoint


@dataclass(frozen=True, slots=True)
class Stat:
    kind: str                       # "sum" | "max" | "ratio"
    metric: str                     # the MetricPoint value (the numerator for a ratio)
    denominator: str | None = None  # ratio only
    unit: str = "count"             # "count" | "ms" | "fraction" | "usd"
    words: str = ""                 # sum: the noun; ratio: the verb; max: the label


STATISTICS: dict[str, Stat] = {
    "invocations": Stat("sum", "invocations", words="invocations"),
    "errors": Stat("sum", "errors", words="failed invocations"),
    "error_rate": Stat("ratio", "errors", "invocations", "fraction", "failed"),
    "timeouts": Stat("sum", "timeouts", words="timed-out invocations"),
    "timeout_rate": Stat("ratio", "timeouts", "invocations", "fraction", "timed out"),
    "out_of_memory": Stat("sum", "out_of_memory", words="out-of-memory kills"),
    "oom_rate": Stat("ratio", "out_of_memory", "invocations", "fraction", "ran out of memory"),
    "crashes": Stat("sum", "crashes", words="runtime crashes"),
    "crash_rate": Stat("ratio", "crashes", "invocations", "fraction", "crashed"),
    "throttles": Stat("sum", "throttles", words="throttled invocations"),
    "downstream_throttles": Stat("sum", "downstream_throttles", words="calls throttled by a service it called"),
    "downstream_throttle_rate": Stat("ratio", "downstream_throttles", "invocations", "fraction",
                                     "were throttled by a service they called"),
    "cold_starts": Stat("sum", "cold_starts", words="cold starts"),
    "cold_start_rate": Stat("ratio", "cold_starts", "invocations", "fraction", "were cold starts"),
    "duration_p50_ms": Stat("max", "duration_p50_ms", unit="ms", words="p50 duration"),
    "duration_p95_ms": Stat("max", "duration_p95_ms", unit="ms", words="p95 duration"),
    "duration_p99_ms": Stat("max", "duration_p99_ms", unit="ms", words="p99 duration"),
    "duration_max_ms": Stat("max", "duration_max_ms", unit="ms", words="longest duration"),
    "completed_duration_p99_ms": Stat("max", "completed_duration_p99_ms", unit="ms",
                                      words="p99 duration of completed invocations"),
    "init_p99_ms": Stat("max", "init_p99_ms", unit="ms", words="p99 init duration"),
    "max_memory_utilization": Stat("max", "max_memory_utilization", unit="fraction",
                                   words="memory use (of memory size)"),
    "max_concurrency": Stat("max", "max_concurrency", words="concurrency"),
    "iterator_age_max_ms": Stat("max", "iterator_age_max_ms", unit="ms", words="iterator age"),
    "delivery_delay_ms": Stat("max", "delivery_delay_ms", unit="ms", words="measured delivery delay"),
    "estimated_cost_usd": Stat("sum", "estimated_cost_usd", unit="usd", words="estimated cost"),
    "dead_letters": Stat("sum", "dead_letters", words="dead letters"),
}

# Figures that add up across the versions of one window (the rest take the maximum). Concurrency
# of two versions adds up too: the sum of their peaks bounds the function's peak from above and
# equals it when one version is live, the usual case.
_ADD_ACROSS_VERSIONS = frozenset(
    s.metric for s in STATISTICS.values() if s.kind != "max") | frozenset(
    s.denominator for s in STATISTICS.values() if s.denominator) | {"max_concurrency"}
_DERIVED = frozenset({"error_rate", "cold_start_rate"})  # recomputed from counts, never merged


def merge_window(points: Iterable[MetricPoint]) -> dict[str, float]:
    """One function's figures for one window from all its points (versions, sources)."""
    by_source: dict[str, dict[str, float]] = {}
    for p in points:
        acc = by_source.setdefault(p.source, {})
        for name, value in p.values.items():
            if value is None or name in _DERIVED:
                continue
            old = acc.get(name)
            if old is None:
                acc[name] = value
            elif name in _ADD_ACROSS_VERSIONS:
                acc[name] = old + value
            else:
                acc[name] = max(old, value)
    merged: dict[str, float] = {}
    for acc in by_source.values():
        for name, value in acc.items():
            old = merged.get(name)
            merged[name] = value if old is None else max(old, value)
    return merged


@dataclass(slots=True)
class Datapoint:
    """One period's value of one statistic; ``value`` None when the period has no data."""

    start_ms: int
    end_ms: int
    value: float | None = None
    numerator: float | None = None
    denominator: float | None = None


def aggregate(stat: Stat, windows: list[dict[str, float]], start_ms: int, end_ms: int,
              min_samples: float = 0) -> Datapoint:
    """The statistic over the windows of one period. A ratio whose denominator is below
    ``min_samples`` is no datapoint (``min_samples`` applies to ratios only): 1 failure in 3 invocations is not a 33 % error rate anyone
    should be woken for."""
    dp = Datapoint(start_ms, end_ms)
    if stat.kind == "ratio":
        nums = [w[stat.metric] for w in windows if stat.metric in w and stat.denominator in w]
        dens = [w[stat.denominator] for w in windows if stat.metric in w and stat.denominator in w]
        if not dens:
            return dp
        num, den = sum(nums), sum(dens)
        if den <= 0 or den < min_samples:
            return dp
        dp.numerator, dp.denominator, dp.value = num, den, num / den
        return dp
    values = [w[stat.metric] for w in windows if stat.metric in w]
    if not values:
        return dp
    dp.value = sum(values) if stat.kind == "sum" else max(values)
    return dp
