"""The one-minute event-time windows of the streaming graph: each minute closes late, once,
then only corrects.

A minute's point must be emitted complete, not as an on-time pane followed by a pane per late
element (what ``FixedWindows(60)`` with ``allowed_lateness`` does). ``MinuteWindows`` assigns each
element to its minute but lets the window *close* ``lateness_ms`` after the minute ends: the
watermark trigger fires when the watermark has passed the minute plus the allowed lateness,
with every observation that arrived in time. What arrives later still (an invocation the fold
could only close late: a crash, an unfinished request, a REPORT after the window closed) fires
the window again, accumulating, for ``correction_ms``: a corrected point with the same
document id (metrics are written with ``index``, the last version wins). Anything later than
that is dropped by the runner (Beam's dropped-due-to-lateness counter). BundleBasedDirectRunner,
Flink and Dataflow all honour it (tests/pipeline/test_streaming_windows.py). The catch-up loop
does the same by hand (``pipeline.carry.windows``).

``WindowMetrics`` uses it with no close delay (``lateness_ms=0``) and a correction period of the
allowed lateness plus ``CORRECTION_MS``: the minute's point fires on time, at the minute's end,
and every late element fires an accumulated, corrected pane (an alarm is not held back by the
lateness; issue 20). ``IteratorAgePerMinute`` still closes late, once.

The figures themselves are computed in ``pipeline.transforms.window_metrics`` (one
implementation, batch and streaming); this module is only the windowing shell.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.coders import coders
from apache_beam.transforms.trigger import AccumulationMode, AfterCount, AfterWatermark
from apache_beam.transforms.window import IntervalWindow, NonMergingWindowFn
from apache_beam.utils.timestamp import Duration, Timestamp

from pipeline.windows import ALLOWED_LATENESS_MS, WINDOW_MS


class MinuteWindows(NonMergingWindowFn):
    """[minute start, minute end + lateness): one window per minute, closing late."""

    def __init__(self, lateness_ms: int = ALLOWED_LATENESS_MS, size_ms: int = WINDOW_MS) -> None:
        self.lateness_ms, self.size_ms = lateness_ms, size_ms

    def assign(self, context):
        micros = context.timestamp.micros
        start = micros - micros % (self.size_ms * 1000)
        return [IntervalWindow(Timestamp(micros=start),
                               Timestamp(micros=start) + Duration(micros=(self.size_ms + self.lateness_ms) * 1000))]

    def get_window_coder(self):
        return coders.IntervalWindowCoder()

    def __eq__(self, other):
        return type(self) is type(other) and (self.lateness_ms, self.size_ms) == (other.lateness_ms, other.size_ms)

    def __hash__(self):
        return hash((type(self), self.lateness_ms, self.size_ms))


def minute_windows(lateness_ms: int, correction_ms: int = 0) -> beam.WindowInto:
    """Into ``MinuteWindows``, firing once when the watermark passes (a trigger that finishes
    when it fires); with ``correction_ms``, each element that arrives up to that much later
    fires the window again with everything so far (accumulating): a corrected point."""
    if not correction_ms:
        return beam.WindowInto(MinuteWindows(lateness_ms), trigger=AfterWatermark(),
                               accumulation_mode=AccumulationMode.DISCARDING)
    return beam.WindowInto(MinuteWindows(lateness_ms), trigger=AfterWatermark(late=AfterCount(1)),
                           accumulation_mode=AccumulationMode.ACCUMULATING,
                           allowed_lateness=Duration(micros=correction_ms * 1000))


def window_start_ms(window: IntervalWindow) -> int:
    return int(window.start.micros // 1000)


__all__ = ["MinuteWindows", "minute_windows", "window_start_ms"]
