"""Window figures: per function, version and one-minute window, from Observations. Pure.

``WindowFigures`` is a mergeable accumulator (counts add, maxima max, percentile sketches
merge, invocation intervals append), so Beam can combine it on many workers before the shuffle;
``to_point`` reads it out as a ``MetricPoint`` with the names of ``pipeline.model.METRIC_NAMES``.

Counting rules (documented in the README):
- ``errors`` counts every failed invocation (error, timeout, out_of_memory, crash), as
  CloudWatch's Errors does; ``timeouts``, ``out_of_memory`` and ``crashes`` count their own kind.
- ``cold_starts`` are user-facing ones (on-demand init or SnapStart restore), not provisioned inits.
- ``throttles`` are this function's rejected invocations seen in callers' logs;
  ``downstream_throttles`` are this function's own calls that a service throttled.
- ``max_concurrency`` is reconstructed from overlapping invocation intervals (an invocation
  running across minutes counts in each); ``max_memory_utilization`` is over invocations that
  were not OOM-killed; ``completed_duration_p99_ms`` is over invocations whose handler returned.
- ``timeout_limit_ms`` is the configured timeout when a timed-out invocation revealed it.
"""

from __future__ import annotations

from array import array
from typing import Any, Iterable

import numpy as np

from pipeline.detect.invocation import COMPLETED, FAILURES
from pipeline.detect.observation import DEAD_LETTER, DOWNSTREAM_THROTTLE, INVOCATION, THROTTLED, WINDOW_MS, Observation
from pipeline.model import MetricPoint
from pipeline.report.series import sweep
from pipeline.sketch import PercentileSketch
from pipeline.windows import PIPELINE_FUNCTION

_OUTCOME_COUNTER = {"timeout": "timeouts", "out_of_memory": "out_of_memory", "crash": "crashes"}


def peak_overlap(starts: Iterable[int], ends: Iterable[int]) -> int:
    """The most intervals (starts[i], ends[i]) open at once: the report's sweep
    (``pipeline.report.series.sweep``), whose end at t frees its slot before a start at t, as an
    environment that ends one request and starts the next in the same millisecond never ran both."""
    return sweep(np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64))[0]


class WindowFigures:
    """The accumulator of one (function, version, window)."""

    __slots__ = ("invocations", "errors", "timeouts", "out_of_memory", "crashes", "throttles",
                 "downstream_throttles", "cold_starts", "durations", "completed", "inits",
                 "max_memory", "starts", "ends", "cost", "timeout_limit", "account", "region", "dead_letters")

    def __init__(self) -> None:
        self.dead_letters = 0
        self.invocations = self.errors = self.timeouts = self.out_of_memory = self.crashes = 0
        self.throttles = self.downstream_throttles = self.cold_starts = 0
        self.durations = PercentileSketch()
        self.completed = PercentileSketch()
        self.inits = PercentileSketch()
        self.max_memory: float | None = None
        # each invocation's interval, for max_concurrency: two int64 columns (16 bytes an
        # invocation; a dict of millisecond deltas took about 140, held by every open window)
        self.starts, self.ends = array("q"), array("q")
        self.cost: float | None = None
        self.timeout_limit: float | None = None
        self.account: str | None = None
        self.region: str | None = None

    def add(self, obs: Observation) -> "WindowFigures":
        self.account = self.account or obs.account
        self.region = self.region or obs.region
        kind = obs.kind
        if kind == THROTTLED:
            self.throttles += 1
            return self
        if kind == DOWNSTREAM_THROTTLE:
            self.downstream_throttles += 1
            return self
        if obs.start_ms is not None and obs.end_ms is not None and obs.end_ms > obs.start_ms:
            self.starts.append(obs.start_ms)
            self.ends.append(obs.end_ms)
        if kind != INVOCATION:
            if kind == DEAD_LETTER:
                self.dead_letters += 1
            return self
        self.invocations += 1
        outcome = obs.outcome
        if outcome in FAILURES:
            self.errors += 1
            counter = _OUTCOME_COUNTER.get(outcome)
            if counter:
                setattr(self, counter, getattr(self, counter) + 1)
        if obs.cold_start:
            self.cold_starts += 1
            if obs.init_ms is not None:
                self.inits.add(obs.init_ms)
        if obs.duration_ms is not None:
            self.durations.add(obs.duration_ms)
            if outcome in COMPLETED:
                self.completed.add(obs.duration_ms)
        if obs.memory_utilization is not None:
            self.max_memory = max(self.max_memory or 0.0, obs.memory_utilization)
        if obs.cost_usd is not None:
            self.cost = (self.cost or 0.0) + obs.cost_usd
        if obs.timeout_limit_ms is not None:
            self.timeout_limit = max(self.timeout_limit or 0.0, obs.timeout_limit_ms)
        return self

    def __setstate__(self, state) -> None:
        """Figures pickled before a field existed (a checkpoint's carried window) get its default."""
        self.__init__()
        slots = dict((state[1] if isinstance(state, tuple) else state) or {})
        deltas = slots.pop("deltas", None)
        if deltas is not None:   # pickled as millisecond deltas, netted: |d| starts or ends at each
            for ms, d in sorted(deltas.items()):
                (self.starts if d > 0 else self.ends).extend([ms] * abs(d))
        for name, value in slots.items():
            setattr(self, name, value)

    def add_all(self, observations: Iterable[Observation]) -> "WindowFigures":
        for obs in observations:
            self.add(obs)
        return self

    def merge(self, other: "WindowFigures") -> "WindowFigures":
        for name in ("invocations", "errors", "timeouts", "out_of_memory", "crashes", "throttles",
                     "downstream_throttles", "cold_starts", "dead_letters"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.durations.merge(other.durations)
        self.completed.merge(other.completed)
        self.inits.merge(other.inits)
        self.starts.extend(other.starts)
        self.ends.extend(other.ends)
        self.max_memory = _opt(max, self.max_memory, other.max_memory)
        self.cost = _opt(lambda a, b: a + b, self.cost, other.cost)
        self.timeout_limit = _opt(max, self.timeout_limit, other.timeout_limit)
        self.account = self.account or other.account
        self.region = self.region or other.region
        return self

    def values(self) -> dict[str, float | int | None]:
        n = self.invocations
        d, c, i = self.durations, self.completed, self.inits
        return {
            "invocations": n,
            "errors": self.errors,
            "error_rate": round(self.errors / n, 4) if n else None,
            "timeouts": self.timeouts,
            "out_of_memory": self.out_of_memory,
            "crashes": self.crashes,
            "throttles": self.throttles,
            "downstream_throttles": self.downstream_throttles,
            "cold_starts": self.cold_starts,
            "cold_start_rate": round(self.cold_starts / n, 4) if n else None,
            "duration_p50_ms": _r(d.quantile(0.5)) if d.count else None,
            "duration_p95_ms": _r(d.quantile(0.95)) if d.count else None,
            "duration_p99_ms": _r(d.quantile(0.99)) if d.count else None,
            "duration_max_ms": _r(d.max) if d.count else None,
            "completed_duration_p99_ms": _r(c.quantile(0.99)) if c.count else None,
            "init_p50_ms": _r(i.quantile(0.5)) if i.count else None,
            "init_p95_ms": _r(i.quantile(0.95)) if i.count else None,
            "init_p99_ms": _r(i.quantile(0.99)) if i.count else None,
            "max_memory_utilization": round(self.max_memory, 4) if self.max_memory is not None else None,
            "max_concurrency": peak_overlap(self.starts, self.ends),
            "estimated_cost_usd": round(self.cost, 9) if self.cost is not None else None,
            "timeout_limit_ms": self.timeout_limit,
        }

    def to_point(self, function_name: str, function_version: str | None, window_start_ms: int,
                 window_ms: int = WINDOW_MS) -> MetricPoint:
        if function_name == PIPELINE_FUNCTION:  # coldtrace's own minute: its dead letters
            return MetricPoint(function_name=function_name, window_start_ms=window_start_ms,
                               window_end_ms=window_start_ms + window_ms, source="pipeline",
                               values={"dead_letters": self.dead_letters})
        return MetricPoint(function_name=function_name, window_start_ms=window_start_ms,
                           window_end_ms=window_start_ms + window_ms, function_version=function_version,
                           source="logs", account=self.account, region=self.region, values=self.values())


def window_points(observations: Iterable[Observation], window_ms: int = WINDOW_MS) -> list[MetricPoint]:
    """Every window's MetricPoint from a set of observations (the whole computation, unsharded:
    the reference the Beam shell is tested against)."""
    acc: dict[tuple[str, str | None, int], WindowFigures] = {}
    for obs in observations:
        key = obs.key()
        fig = acc.get(key)
        if fig is None:
            fig = acc[key] = WindowFigures()
        fig.add(obs)
    return [acc[k].to_point(*k, window_ms=window_ms)
            for k in sorted(acc, key=lambda k: (k[0], k[1] or "", k[2]))]


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def _opt(fn: Any, a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return fn(a, b)
