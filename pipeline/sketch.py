"""A mergeable percentile sketch (DDSketch-style log buckets) for durations and init times.

Why not sort: window figures are combined across workers, and a sorted list of every value does
not merge cheaply. A value x > 0 goes to bucket ``ceil(log_gamma(x))`` with
``gamma = (1 + a) / (1 - a)``; every value in a bucket is within ``a`` (relative) of the
bucket's representative ``2 * gamma**i / (gamma + 1)``, so any quantile comes back within ``a``
of the exact one (relative accuracy 0.5 % by default). Merging is a bucket-wise add: associative
and commutative, which is what Beam's combiner lifting needs. Values at or below
``MIN_VALUE`` (0 ms durations) are counted apart and read back as 0.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

RELATIVE_ACCURACY = 0.005
MIN_VALUE = 1e-6
MAX_BUCKETS = 4096  # ~ 9 decades at 0.5 %: far more than 1 µs .. 15 min; the lowest collapse first
_log, _ceil = math.log, math.ceil


class PercentileSketch:
    """Counts per log bucket; ``quantile(q)`` within ``relative_accuracy`` of the exact value."""

    __slots__ = ("alpha", "_gamma_ln", "buckets", "zeros", "count", "min", "max")

    def __init__(self, relative_accuracy: float = RELATIVE_ACCURACY) -> None:
        if not 0 < relative_accuracy < 1:
            raise ValueError(f"relative_accuracy must be in (0, 1), got {relative_accuracy}")
        self.alpha = relative_accuracy
        self._gamma_ln = math.log((1 + relative_accuracy) / (1 - relative_accuracy))
        self.buckets: dict[int, int] = {}
        self.zeros = 0
        self.count = 0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value: float, weight: int = 1) -> None:
        # Runs about ten times per invocation (the report's, the advice's and the windows'
        # sketches): the common case, a positive value, is tested first.
        if value > MIN_VALUE:  # NaN fails this comparison and every other one below but !=
            key = _ceil(_log(value) / self._gamma_ln)
            buckets = self.buckets
            buckets[key] = buckets.get(key, 0) + weight
            if len(buckets) > MAX_BUCKETS:
                self._collapse()
        elif value != value:  # NaN carries no information: refuse it rather than poison a bucket
            raise ValueError("cannot add NaN to a percentile sketch")
        elif value < 0:
            raise ValueError(f"percentile sketch takes non-negative values, got {value}")
        else:
            self.zeros += weight
        self.count += weight
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    def add_all(self, values: Iterable[float]) -> None:
        for v in values:
            self.add(v)

    def merge(self, other: "PercentileSketch") -> "PercentileSketch":
        """Add ``other`` into this sketch (same accuracy required); returns self."""
        if other.alpha != self.alpha:
            raise ValueError(f"cannot merge sketches of accuracy {self.alpha} and {other.alpha}")
        buckets = self.buckets
        for key, n in other.buckets.items():
            buckets[key] = buckets.get(key, 0) + n
        self.zeros += other.zeros
        self.count += other.count
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        if len(buckets) > MAX_BUCKETS:
            self._collapse()
        return self

    def _collapse(self) -> None:
        """Fold the lowest buckets into one: the tail users read (p95, p99) keeps its accuracy."""
        keys = sorted(self.buckets)
        extra = keys[:len(keys) - MAX_BUCKETS + 1]
        into = keys[len(extra)]
        self.buckets[into] += sum(self.buckets.pop(k) for k in extra)

    def _value(self, key: int) -> float:
        return 2.0 * math.exp(key * self._gamma_ln) / (1.0 + math.exp(self._gamma_ln))

    def quantile(self, q: float) -> float | None:
        """The nearest-rank quantile (q in 0..1): the value of rank ``ceil(q * count)`` (1-based),
        as ``pipeline.report.fields.percentile`` computes it exactly, within the relative accuracy.

        The extremes are exact: q = 0 gives the minimum and q = 1 the maximum seen."""
        if not 0 <= q <= 1:
            raise ValueError(f"quantile must be in [0, 1], got {q}")
        if self.count == 0:
            return None
        if q == 1:
            return self.max
        if q == 0:
            return self.min
        rank = max(0, math.ceil(q * self.count) - 1)  # 0-based
        if rank < self.zeros:
            return 0.0
        seen = self.zeros
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            if seen > rank:
                return min(max(self._value(key), self.min), self.max)
        return self.max

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        return [self.quantile(q) for q in qs]

    def __len__(self) -> int:
        return self.count

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form (bucket keys as strings); ``from_dict`` reads it back."""
        return {"a": self.alpha, "z": self.zeros, "n": self.count,
                "min": None if self.count == 0 else self.min, "max": None if self.count == 0 else self.max,
                "b": {str(k): v for k, v in sorted(self.buckets.items())}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PercentileSketch":
        sketch = cls(float(data["a"]))
        sketch.buckets = {int(k): int(v) for k, v in data.get("b", {}).items()}
        sketch.zeros = int(data.get("z", 0))
        sketch.count = int(data.get("n", sketch.zeros + sum(sketch.buckets.values())))
        if sketch.count:
            sketch.min, sketch.max = float(data["min"]), float(data["max"])
        return sketch

    def __getstate__(self) -> tuple:
        """Pickled for Beam's shuffles and size estimates, and for carried streaming state: the
        bucket dict as it is (``to_dict``'s string keys cost five times as much to pickle)."""
        return (self.alpha, self.zeros, self.count, self.min, self.max, self.buckets)

    def __setstate__(self, state: tuple | dict[str, Any]) -> None:
        if isinstance(state, dict):  # pickled by an older coldtrace (carried state): the to_dict form
            other = PercentileSketch.from_dict(state)
            state = (other.alpha, other.zeros, other.count, other.min, other.max, other.buckets)
        self.alpha, self.zeros, self.count, self.min, self.max, self.buckets = state
        self._gamma_ln = math.log((1 + self.alpha) / (1 - self.alpha))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PercentileSketch) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"PercentileSketch(n={self.count}, buckets={len(self.buckets)}, accuracy={self.alpha})"
