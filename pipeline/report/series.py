"""Time series of a run: invocations, failures, outcomes, duration p95, cold starts, throttling
errors logged and concurrency per time bucket, from invocation documents or the metrics index.

The bucket is a readable interval chosen so a run has at most ``MAX_BUCKETS`` of them. Charts
show the busiest functions by name and the rest summed as ``other``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pipeline.report.fields import end_ms, is_failed, is_throttle, percentile, start_ms

MAX_BUCKETS = 90
TOP_FUNCTIONS = 8
OTHER = "other"
INTERVALS_MS = (1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 1_800_000, 3_600_000,
                10_800_000, 21_600_000, 43_200_000, 86_400_000, 604_800_000)


def bucket_interval(lo: int, hi: int, max_buckets: int = MAX_BUCKETS) -> int:
    span = max(hi - lo, 1)
    return next((i for i in INTERVALS_MS if span / i <= max_buckets), INTERVALS_MS[-1])


def time_axis(lo: int, hi: int) -> tuple[int, list[int]]:
    """(interval, bucket starts) covering [lo, hi], aligned on the interval."""
    interval = bucket_interval(lo, hi)
    first = lo - lo % interval
    return interval, list(range(first, hi + 1, interval))


def top_functions(counts: dict[str, int], n: int = TOP_FUNCTIONS) -> list[str]:
    ranked = sorted(counts, key=lambda k: (-counts[k], k))
    return sorted(ranked[:n])


def _label(fn: str, top: set[str]) -> str:
    return fn if fn in top else OTHER


def invocation_series(docs: list[dict[str, Any]], lo: int, hi: int, top: list[str]) -> dict[str, Any]:
    """Per bucket: invocations and failed per function, every outcome, cold starts, invocations
    that logged a throttling error (their own calls throttled), p95 duration and peak concurrency."""
    interval, t = time_axis(lo, hi)
    n, first, topset = len(t), t[0], set(top)
    names = top + ([OTHER] if any(d.get("faas.name") not in topset for d in docs) else [])
    zero = lambda: [0] * n  # noqa: E731
    inv, failed, cold, throttles = (defaultdict(zero) for _ in range(4))
    outcomes: dict[str, list[int]] = defaultdict(zero)
    durations: dict[tuple[str, int], list[float]] = defaultdict(list)
    intervals: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for d in docs:
        s = start_ms(d)
        b = (s - first) // interval
        fn = _label(d.get("faas.name", "?"), topset)
        inv[fn][b] += 1
        outcomes[d.get("aws.lambda.outcome", "unfinished")][b] += 1
        if is_failed(d):
            failed[fn][b] += 1
        if d.get("faas.coldstart"):
            cold[fn][b] += 1
        if is_throttle(d):
            throttles[fn][b] += 1
        if d.get("aws.lambda.duration_ms") is not None:
            durations[(fn, b)].append(float(d["aws.lambda.duration_ms"]))
        intervals[fn].append((s, end_ms(d)))
    p95 = {fn: [percentile(sorted(durations.get((fn, b), ())), 95) for b in range(n)] for fn in names}
    return {"interval_ms": interval, "t": t, "functions": names,
            "invocations": {fn: inv[fn] for fn in names}, "failed": {fn: failed[fn] for fn in names},
            "cold_starts": {fn: cold[fn] for fn in names},
            "downstream_throttles": {fn: throttles[fn] for fn in names},
            "outcomes": {o: outcomes[o] for o in sorted(outcomes)}, "duration_p95_ms": p95,
            "concurrency": {fn: concurrency_per_bucket(intervals[fn], first, interval, n) for fn in names}}


def concurrency_per_bucket(intervals: list[tuple[int, int]], first: int, interval: int, n: int) -> list[int]:
    """Peak number of invocations running at once within each bucket (a sweep over start and end
    edges; what runs across a bucket boundary counts in the next bucket too)."""
    edges = sorted([(s, 1) for s, _ in intervals] + [(max(e, s), -1) for s, e in intervals])
    peaks = [0] * n
    running = current = 0
    for time_ms, step in edges:
        b = min(max((time_ms - first) // interval, 0), n - 1)
        while current < b:
            current += 1
            peaks[current] = max(peaks[current], running)
        running += step
        peaks[b] = max(peaks[b], running)
    return peaks


def metric_series(docs: list[dict[str, Any]], name: str, lo: int, hi: int, top: list[str],
                  how: str = "sum") -> dict[str, list[float | None]]:
    """One metric of the metrics index per bucket and function (sum or max of the windows in it;
    with ``top``, functions outside it are summed or maxed as ``other``)."""
    interval, t = time_axis(lo, hi)
    n, first, topset = len(t), t[0], set(top)
    field = f"aws.lambda.metrics.{name}"
    out: dict[str, list[float | None]] = {}
    for d in docs:
        if field not in d:
            continue
        fn = d.get("faas.name", "?")
        fn = fn if fn in topset or not top else _label(fn, topset)
        b = min(max((start_ms(d) - first) // interval, 0), n - 1)
        row = out.setdefault(fn, [None] * n)
        v = d[field]
        row[b] = v if row[b] is None else (row[b] + v if how == "sum" else max(row[b], v))
    return dict(sorted(out.items()))
