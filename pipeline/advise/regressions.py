"""What changed: a new function version, or a runtime update Lambda applied to the same version,
followed by a jump in error rate, duration p95, init duration p95 or memory used p95.

The statistical rule (documented in docs/advice.md; limits in ``thresholds``):

* both sides need ``MIN_SAMPLES_EACH_SIDE`` invocations (``MIN_COLD_STARTS_EACH_SIDE`` for init);
* **error rate**: a one-sided two-proportion z test (pooled) must reach ``MIN_Z``, and the rate
  must at least double and rise by ``ERROR_RATE_MIN_DELTA``;
* **percentiles** (duration, init, memory used): an exceedance test — before the change 5 % of
  values lay above the p95; if the share of after-values above that old p95 exceeds 5 % by
  ``MIN_Z`` binomial standard errors the distribution moved, and the p95 must also have grown by
  the metric's minimum ratio (the size of the change, not only its significance).

A version is compared with the version that preceded it (by first appearance). A runtime update
is the first cold start of a function version on a new runtime version; its before/after split
uses the version's minute buckets, leaving out the minute of the change itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from pipeline.advise.aggregate import Bucket, FunctionAgg, Stats
from pipeline.advise.finding import Finding, ms
from pipeline.advise.thresholds import (
    BUCKET_MS,
    DURATION_P95_MIN_RATIO,
    ERROR_RATE_MIN_DELTA,
    ERROR_RATE_MIN_RATIO,
    EXCEEDANCE_Q,
    INIT_P95_MIN_RATIO,
    MEMORY_P95_MIN_RATIO,
    MIN_COLD_STARTS_EACH_SIDE,
    MIN_SAMPLES_EACH_SIDE,
    MIN_Z,
)
from pipeline.model import iso_ms
from pipeline.sketch import PercentileSketch


@dataclass
class Change:
    """One metric that moved: its value before and after, samples on each side, and the z score."""

    metric: str          # error_rate, duration_p95_ms, init_p95_ms, max_memory_used_p95_mb
    before: float
    after: float
    n_before: int
    n_after: int
    z: float

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "before": round(self.before, 4), "after": round(self.after, 4),
                "n_before": self.n_before, "n_after": self.n_after, "z": round(self.z, 2)}

    def phrase(self) -> str:
        if self.metric == "error_rate":
            return f"error rate {self.before:.1%} → {self.after:.1%}"
        label = {"duration_p95_ms": "p95 duration", "init_p95_ms": "p95 init duration",
                 "max_memory_used_p95_mb": "p95 memory used"}[self.metric]
        ratio = f" (x{self.after / self.before:.1f})" if self.before else ""
        if self.metric.endswith("_mb"):
            return f"{label} {self.before:,.0f} → {self.after:,.0f} MB{ratio}"
        return f"{label} {ms(self.before)} → {ms(self.after)}{ratio}"


def error_change(n1: int, failed1: int, n2: int, failed2: int) -> Change | None:
    """A significant and material rise in the share of failed invocations, else None."""
    if n1 < MIN_SAMPLES_EACH_SIDE or n2 < MIN_SAMPLES_EACH_SIDE:
        return None
    p1, p2 = failed1 / n1, failed2 / n2
    pooled = (failed1 + failed2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return None
    z = (p2 - p1) / se
    if z < MIN_Z or p2 - p1 < ERROR_RATE_MIN_DELTA or p2 < p1 * ERROR_RATE_MIN_RATIO:
        return None
    return Change("error_rate", p1, p2, n1, n2, z)


def count_above(sketch: PercentileSketch, x: float) -> int:
    """How many values the sketch holds above ``x`` (to its accuracy), by bisection on ranks."""
    n = sketch.count
    lo, hi = 1, n + 1            # the smallest 1-based rank whose value exceeds x; n + 1: none
    while lo < hi:
        mid = (lo + hi) // 2
        if sketch.quantile((mid - 0.5) / n) > x:
            hi = mid
        else:
            lo = mid + 1
    return n + 1 - lo


def percentile_change(metric: str, before: PercentileSketch, after: PercentileSketch, min_ratio: float,
                      min_samples: int = MIN_SAMPLES_EACH_SIDE) -> Change | None:
    """A significant and material rise of the p95 (the exceedance test), else None."""
    if before.count < min_samples or after.count < min_samples:
        return None
    p_before, p_after = before.quantile(EXCEEDANCE_Q), after.quantile(EXCEEDANCE_Q)
    if not p_before or p_after is None or p_after < p_before * min_ratio:
        return None
    q = 1 - EXCEEDANCE_Q
    share = count_above(after, p_before) / after.count
    z = (share - q) / math.sqrt(q * (1 - q) / after.count)
    if z < MIN_Z:
        return None
    return Change(metric, p_before, p_after, before.count, after.count, z)


def _compare(before: Stats, after: Stats) -> list[Change]:
    found = [error_change(before.n, before.failed, after.n, after.failed),
             percentile_change("duration_p95_ms", before.duration, after.duration, DURATION_P95_MIN_RATIO),
             percentile_change("init_p95_ms", before.init, after.init, INIT_P95_MIN_RATIO, MIN_COLD_STARTS_EACH_SIDE),
             percentile_change("max_memory_used_p95_mb", before.used, after.used, MEMORY_P95_MIN_RATIO)]
    return [c for c in found if c is not None]


def _finding(name: str, kind: str, old: str, new: str, at_ms: int, changes: list[Change], what: str,
             action: str, **extra: str) -> Finding:
    evidence = (f"{what} {new} first seen at {iso_ms(at_ms)} (before: {old}): "
                + "; ".join(c.phrase() for c in changes) + f" — {action}")
    return Finding(name, kind, new, old, None, evidence,
                   details={"from": old, "to": new, **extra, "at": iso_ms(at_ms),
                            "changes": [c.to_json() for c in changes]})


def version_regression(name: str, fn: FunctionAgg) -> list[Finding]:
    versions = sorted(fn.versions.items(), key=lambda kv: (kv[1].first_ms or 0, kv[0]))
    out = []
    for (old, before), (new, after) in pairwise(versions):
        changes = _compare(before, after)
        if changes:
            out.append(_finding(name, "version-regression", old, new, after.first_ms or 0, changes, "version",
                                f"roll back to version {old} or fix {new}"))
    return out


def _split(buckets: dict[int, Bucket], at_ms: int) -> tuple[Stats, Stats]:
    """Before and after the minute of ``at_ms`` (that minute itself mixes both: left out)."""
    cut = at_ms // BUCKET_MS
    sides = (Stats(), Stats())
    for minute, b in buckets.items():
        if minute == cut:
            continue
        side = sides[minute > cut]
        side.n += b.n
        side.outcomes["error"] = side.outcomes.get("error", 0) + b.failed
        side.duration.merge(b.duration)
    return sides


def runtime_update(name: str, fn: FunctionAgg) -> list[Finding]:
    out = []
    for version, runtimes in sorted(fn.runtimes.items()):
        ordered = sorted(runtimes.items(), key=lambda kv: (kv[1].first_ms or 0, kv[0]))
        for (old, old_stats), (new, new_stats) in pairwise(ordered):
            at = new_stats.first_ms or 0
            before, after = _split(fn.buckets.get(version, {}), at)
            changes = _compare(before, after)
            init = percentile_change("init_p95_ms", old_stats.init, new_stats.init, INIT_P95_MIN_RATIO,
                                     MIN_COLD_STARTS_EACH_SIDE)
            changes += [init] if init else []
            if changes:
                out.append(_finding(
                    name, "runtime-update", old, new, at, changes, f"version {version} on runtime",
                    f"Lambda updated the runtime under the same function version: pin {old} with runtime "
                    "management controls (manual mode) while you fix the code for the new runtime",
                    version=version))
    return out
