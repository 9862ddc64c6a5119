"""The report's time series on an axis that coarsens as the range grows: per-bucket counts,
duration sketches and metric sums/maxima keyed by ``time // interval``. Mergeable; pure."""

from __future__ import annotations

from typing import Any

from pipeline.aggregate_files import Pieces, drain, whole
from pipeline.sketch import PercentileSketch


class Buckets:
    """Per-bucket figures keyed by ``time // interval``; ``coarsen`` re-keys to a larger interval."""

    __slots__ = ("cold", "durations", "failed", "interval", "invocations", "metrics", "outcomes", "throttles")

    def __init__(self, interval: int = 1_000) -> None:
        self.interval = interval
        self.invocations: dict[str, dict[int, int]] = {}
        self.failed: dict[str, dict[int, int]] = {}
        self.cold: dict[str, dict[int, int]] = {}
        self.throttles: dict[str, dict[int, int]] = {}
        self.durations: dict[str, dict[int, PercentileSketch]] = {}
        self.outcomes: dict[str, dict[int, int]] = {}
        # (metric name, function, source) → bucket → [sum, max]
        self.metrics: dict[tuple[str, str, str], dict[int, list]] = {}

    def _count_maps(self):
        return (self.invocations, self.failed, self.cold, self.throttles, self.outcomes)

    def coarsen(self, interval: int) -> None:
        if interval <= self.interval:
            return
        old, self.interval = self.interval, interval

        def key(k: int) -> int:
            return k * old // interval

        for maps in self._count_maps():
            for name, row in maps.items():
                new: dict[int, int] = {}
                for k, v in row.items():
                    nk = key(k)
                    new[nk] = new.get(nk, 0) + v
                maps[name] = new
        for name, row in self.durations.items():
            sketches: dict[int, PercentileSketch] = {}
            for k, sk in row.items():
                nk = key(k)
                if nk in sketches:
                    sketches[nk].merge(sk)
                else:
                    sketches[nk] = sk
            self.durations[name] = sketches
        for name, row in self.metrics.items():
            merged: dict[int, list] = {}
            for k, (total, peak) in row.items():
                nk = key(k)
                if nk in merged:
                    merged[nk] = [merged[nk][0] + total, max(merged[nk][1], peak)]
                else:
                    merged[nk] = [total, peak]
            self.metrics[name] = merged

    def merge(self, o: Buckets) -> None:
        o.coarsen(self.interval)  # merge consumes ``o``: re-keyed in place
        self.coarsen(o.interval)
        for mine, theirs in zip(self._count_maps(), o._count_maps()):
            for name, row in theirs.items():
                target = mine.setdefault(name, {})
                for k, v in row.items():
                    target[k] = target.get(k, 0) + v
        for name, row in o.durations.items():
            target = self.durations.setdefault(name, {})
            for k, sk in row.items():
                if k in target:
                    target[k].merge(sk)
                else:
                    target[k] = sk
        for name, row in o.metrics.items():
            target = self.metrics.setdefault(name, {})
            for k, (total, peak) in row.items():
                if k in target:
                    target[k] = [target[k][0] + total, max(target[k][1], peak)]
                else:
                    target[k] = [total, peak]

    def to_json(self) -> dict[str, Any]:
        return whole(self.json_pieces())

    def json_pieces(self) -> Pieces:
        """The JSON form; the duration sketches (most of it) made one function's row at a time."""
        def ints(m):
            return lambda: {n: {str(k): v for k, v in row.items()} for n, row in m.items()}

        def sketches(row):
            return lambda: {str(k): s.to_dict() for k, s in row.items()}
        return Pieces([
            ("interval", self.interval), ("invocations", ints(self.invocations)), ("failed", ints(self.failed)),
            ("cold", ints(self.cold)), ("throttles", ints(self.throttles)), ("outcomes", ints(self.outcomes)),
            ("durations", Pieces((n, sketches(row)) for n, row in self.durations.items())),
            ("metrics", lambda: [[list(key), {str(k): v for k, v in row.items()}] for key, row in self.metrics.items()])])

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Buckets:
        b = cls(d["interval"])
        def ints(m):
            return {n: {int(k): v for k, v in row.items()} for n, row in m.items()}
        b.invocations, b.failed, b.cold = ints(d["invocations"]), ints(d["failed"]), ints(d["cold"])
        b.throttles, b.outcomes = ints(d["throttles"]), ints(d["outcomes"])
        b.durations = {n: {int(k): PercentileSketch.from_dict(s) for k, s in row.items()}
                       for n, row in drain(d["durations"])}
        b.metrics = {tuple(key): {int(k): list(v) for k, v in row.items()} for key, row in d["metrics"]}
        return b


def bump(maps: dict[str, dict[int, int]], name: str, k: int) -> None:
    row = maps.get(name)
    if row is None:
        row = maps[name] = {}
    row[k] = row.get(k, 0) + 1
