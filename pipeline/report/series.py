"""Time series of a run: invocations, failures, outcomes, duration p95, cold starts, throttling
errors logged and concurrency per time bucket, from a run's ``ReportAggregate``.

The bucket is a readable interval chosen so a run has at most ``MAX_BUCKETS`` of them. Charts
show the busiest functions by name and the rest summed as ``other``.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from pipeline.sketch import PercentileSketch

# ``agg`` below is a pipeline.report.aggregates.ReportAggregate (not imported: it imports this module).
ReportAggregate = Any

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


def _labels(names: Iterable[str], top: list[str]) -> dict[str, list[str]]:
    """Label (a top function, or ``other``) → the functions it stands for."""
    topset, out = set(top), {}
    for fn in sorted(names):
        out.setdefault(_label(fn, topset), []).append(fn)
    return out


def invocation_series(agg: "ReportAggregate", lo: int, hi: int, top: list[str]) -> dict[str, Any]:
    """Per bucket: invocations and failed per function, every outcome, cold starts, invocations
    that logged a throttling error (their own calls throttled), p95 duration and peak concurrency."""
    interval, t = time_axis(lo, hi)
    n, first = len(t), t[0]
    b = agg.buckets
    b.coarsen(interval)
    if b.interval != interval:
        raise ValueError(f"aggregate buckets of {b.interval} ms cannot be drawn on {interval} ms")
    offset = first // interval
    labels = _labels(agg.functions, top)
    names = top + ([OTHER] if OTHER in labels else [])

    def counts(maps: dict[str, dict[int, int]], members: list[str]) -> list[int]:
        row = [0] * n
        for fn in members:
            for k, v in maps.get(fn, {}).items():
                row[k - offset] += v
        return row

    def p95(members: list[str]) -> list[float | None]:
        out: list[float | None] = []
        for k in range(offset, offset + n):
            sketches = [agg.buckets.durations[fn][k] for fn in members if k in agg.buckets.durations.get(fn, {})]
            if not sketches:
                out.append(None)
                continue
            merged = PercentileSketch()
            for sk in sketches:
                merged.merge(sk)
            out.append(_round(merged.quantile(0.95)))
        return out

    def member(fn: str) -> list[str]:
        return labels.get(fn, [])

    return {"interval_ms": interval, "t": t, "functions": names,
            "invocations": {fn: counts(b.invocations, member(fn)) for fn in names},
            "failed": {fn: counts(b.failed, member(fn)) for fn in names},
            "cold_starts": {fn: counts(b.cold, member(fn)) for fn in names},
            "downstream_throttles": {fn: counts(b.throttles, member(fn)) for fn in names},
            "outcomes": {o: counts(b.outcomes, [o]) for o in sorted(b.outcomes)},
            "duration_p95_ms": {fn: p95(member(fn)) for fn in names},
            "concurrency": {fn: _concurrency(agg, member(fn), first, interval, n) for fn in names}}


def _round(value: float | None) -> float | None:
    """Sketch values to the 0.01 ms Lambda reports durations in."""
    return None if value is None else round(value, 2)


def _concurrency(agg: "ReportAggregate", members: list[str], first: int, interval: int, n: int) -> list[int]:
    figures = [agg.functions[fn] for fn in members]
    starts = np.concatenate([np.frombuffer(f.starts, dtype=np.int64) for f in figures]) if figures else _EMPTY
    ends = np.concatenate([np.frombuffer(f.ends, dtype=np.int64) for f in figures]) if figures else _EMPTY
    return sweep(starts, ends, first, interval, n)[1]


_EMPTY = np.zeros(0, dtype=np.int64)


def sweep(starts: np.ndarray, ends: np.ndarray, first: int = 0, interval: int = 1, n: int = 0) -> tuple[int, list[int]]:
    """(peak, peak per bucket) of invocations running at once, from their start and end times.

    An end at t frees its slot before a start at t; what runs across a bucket boundary counts
    in the next bucket too. Vectorised: a fleet's million invocations are sorted, not looped."""
    if len(starts) == 0:
        return 0, [0] * n
    times = np.concatenate([starts, np.maximum(ends, starts)])
    steps = np.concatenate([np.ones(len(starts), dtype=np.int64), -np.ones(len(starts), dtype=np.int64)])
    order = np.lexsort((steps, times))
    running = np.cumsum(steps[order])
    peak = max(int(running.max()), 0)
    if n == 0:
        return peak, []
    buckets = np.clip((times[order] - first) // interval, 0, n - 1)
    peaks = np.zeros(n, dtype=np.int64)
    np.maximum.at(peaks, buckets, running)
    # The level carried into a bucket: the running count after the last edge of an earlier bucket
    # (buckets after the last edge stay 0, as the level is back to 0 there).
    last_of = np.full(n, -1, dtype=np.int64)
    last_of[buckets] = np.arange(len(buckets))  # later edges overwrite: the last one of each bucket
    carried = np.maximum.accumulate(last_of)  # the last edge at or before each bucket
    enter = np.zeros(n, dtype=np.int64)
    enter[1:] = np.where(carried[:-1] >= 0, running[np.maximum(carried[:-1], 0)], 0)
    enter[int(buckets[-1]) + 1:] = 0
    return peak, np.maximum(peaks, enter).tolist()


def concurrency_per_bucket(intervals: Iterable[tuple[int, int]], first: int, interval: int, n: int) -> list[int]:
    """Peak number of invocations running at once within each bucket (see ``sweep``)."""
    pairs = np.array(list(intervals), dtype=np.int64).reshape(-1, 2)
    return sweep(pairs[:, 0], pairs[:, 1], first, interval, n)[1]


def metric_series(agg: "ReportAggregate", name: str, lo: int, hi: int, top: list[str], how: str = "sum",
                  cloudwatch: dict[str, bool] | None = None) -> dict[str, list[float | None]]:
    """One metric of the metrics index per bucket and function (sum or max of the windows in it;
    with ``top``, functions outside it are summed or maxed as ``other``); with ``cloudwatch``,
    each function's windows from CloudWatch only when True, from the others when False."""
    interval, t = time_axis(lo, hi)
    n, offset, topset = len(t), t[0] // interval, set(top)
    agg.buckets.coarsen(interval)
    out: dict[str, list[float | None]] = {}
    for (metric, fn, source), row in sorted(agg.buckets.metrics.items()):
        if metric != name or (cloudwatch is not None and (source == "cloudwatch") != cloudwatch.get(fn)):
            continue
        label = fn if fn in topset or not top else _label(fn, topset)
        series = out.setdefault(label, [None] * n)
        for k, (total, peak) in row.items():
            b = min(max(k - offset, 0), n - 1)
            v = total if how == "sum" else peak
            series[b] = v if series[b] is None else (series[b] + v if how == "sum" else max(series[b], v))
    return dict(sorted(out.items()))
