"""How far behind its data the watermark is held: the measured delivery delay. Pure.

A log line reaches a Kinesis shard some time after it was logged (CloudWatch Logs batches
lines for its subscription, the forwarder ships them). Each record read gives that delay for
every line it holds: the record's ApproximateArrivalTimestamp less the line's timestamp. Per
shard, the delays of the last ``RECENT_MS`` of arrival time are kept in percentile sketches
(one per arrival minute: old minutes are dropped whole), and the shard's watermark is held back
by their ``QUANTILE`` (p99) instead of the fixed ``--delivery-delay``:

    hold = min(ceiling, max(floor, p99 of the recent delays))     (the ceiling: --delivery-delay)

so a healthy pipeline's watermark trails its data by seconds, and a shard whose lines arrive
late holds it back as far as they need, never more than the configured delay. Until a shard has
``MIN_DELAYS`` delays in its window it is held back by the ceiling (the old, cautious
behaviour); the floor leaves room for clock skew between the functions and the service, and
for what a p99 of a few minutes has not seen. "Recent" is counted from the newest arrival seen
on the shard, not from the clock, so a shard that goes quiet keeps what it learnt.

The watermark over several shards is the lowest of (the shard's mark − its hold).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from pipeline.sketch import PercentileSketch
from pipeline.windows import WINDOW_MS, window_start

QUANTILE = 0.99
FLOOR_MS = 5_000            # never held back by less (clock skew; the tail a p99 has not seen yet)
RECENT_MS = 10 * WINDOW_MS  # the delays of the last ten minutes of arrivals count
MIN_DELAYS = 20             # fewer delays than this in the window: held back by the ceiling
ACCURACY = 0.01             # the sketch's relative accuracy (1 %: of a 60 s delay, 0.6 s)


class DelayWindow:
    """One shard's recent delivery delays (arrival − event time, ms), per arrival minute."""

    __slots__ = ("minutes",)

    def __init__(self, minutes: dict[int, PercentileSketch] | None = None) -> None:
        self.minutes: dict[int, PercentileSketch] = minutes or {}

    def observe(self, arrival_ms: int, event_times_ms: Iterable[int]) -> None:
        """The delays of one record's lines (a line stamped after its arrival counts as 0)."""
        minute = window_start(arrival_ms)
        sketch = self.minutes.get(minute)
        if sketch is None:
            sketch = self.minutes[minute] = PercentileSketch(ACCURACY)
            self._forget()
        for ts in event_times_ms:
            sketch.add(max(0, arrival_ms - ts))

    def _forget(self) -> None:
        newest = max(self.minutes)
        for minute in [m for m in self.minutes if m + RECENT_MS <= newest]:
            del self.minutes[minute]

    def merge(self, other: "DelayWindow") -> "DelayWindow":
        """Add ``other``'s minutes into this window; returns self."""
        for minute, sketch in other.minutes.items():
            mine = self.minutes.get(minute)
            if mine is None:
                self.minutes[minute] = PercentileSketch.from_dict(sketch.to_dict())
            else:
                mine.merge(sketch)
        if self.minutes:
            self._forget()
        return self

    def count(self) -> int:
        return sum(s.count for s in self.minutes.values())

    def quantile(self, q: float = QUANTILE) -> float | None:
        """The q-quantile of the recent delays (at least the exact one, at most ``2 * ACCURACY``
        above it); None with fewer than ``MIN_DELAYS`` of them."""
        if self.count() < MIN_DELAYS:
            return None
        merged = PercentileSketch(ACCURACY)
        for sketch in self.minutes.values():
            merged.merge(sketch)
        value = merged.quantile(q)
        # the sketch answers within ±ACCURACY: round up, so the hold is never below the delay seen
        return None if value is None else min(value * (1 + ACCURACY), merged.max)

    def to_json(self) -> dict[str, Any]:
        return {str(m): s.to_dict() for m, s in sorted(self.minutes.items())}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> "DelayWindow":
        return cls({int(m): PercentileSketch.from_dict(s) for m, s in (data or {}).items()})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DelayWindow) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"DelayWindow(minutes={len(self.minutes)}, delays={self.count()})"


def hold_back_ms(observed_ms: float | None, ceiling_ms: int, floor_ms: int = FLOOR_MS) -> int:
    """How far a shard's watermark trails its mark: the observed delay (rounded up) within
    [floor, ceiling]; the ceiling when nothing was observed. A ceiling below the floor wins:
    ``--delivery-delay 0`` means no hold at all."""
    if observed_ms is None:
        return ceiling_ms
    return min(ceiling_ms, max(floor_ms, math.ceil(observed_ms)))


def shard_hold_ms(window: DelayWindow | None, ceiling_ms: int, floor_ms: int = FLOOR_MS) -> int:
    return hold_back_ms(None if window is None else window.quantile(), ceiling_ms, floor_ms)


def watermark_ms(marks: Mapping[str, int | None], holds: Mapping[str, int]) -> int | None:
    """The lowest shard's (mark − hold); None while a shard has no mark (or there is none)."""
    if not marks or any(m is None for m in marks.values()):
        return None
    return min(m - holds[s] for s, m in marks.items() if m is not None)


__all__ = ["QUANTILE", "FLOOR_MS", "RECENT_MS", "MIN_DELAYS", "DelayWindow", "hold_back_ms", "shard_hold_ms",
           "watermark_ms"]
