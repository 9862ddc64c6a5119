"""The one-minute event-time windows of the streaming graph: each minute closes once, late.

Metric documents have deterministic ids and are written with ``create``, so a window must be
emitted once, complete — not an on-time pane followed by late panes that an index would
reject as duplicates (what ``FixedWindows(60)`` with ``allowed_lateness`` does: every late
element fires another pane). ``MinuteWindows`` assigns each element to its minute but lets the
window *close* ``lateness_ms`` after the minute ends: the watermark trigger then fires once,
when the watermark has passed the minute plus the allowed lateness, with every observation
that arrived in time; anything later is dropped by the runner as behind the window (and
counted in Beam's dropped-due-to-lateness counter). BundleBasedDirectRunner, Flink and
Dataflow all honour it (tests/pipeline/test_streaming_windows.py). The catch-up loop does
the same by hand (``pipeline.streaming.windows``).

The figures themselves are computed in ``pipeline.transforms.window_metrics`` (one
implementation, batch and streaming); this module is only the windowing shell.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.coders import coders
from apache_beam.transforms.window import IntervalWindow, NonMergingWindowFn
from apache_beam.utils.timestamp import Duration, Timestamp

from pipeline.detect.observation import WINDOW_MS
from pipeline.streaming.windows import ALLOWED_LATENESS_MS


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


def minute_windows(lateness_ms: int) -> beam.WindowInto:
    """Into ``MinuteWindows``, firing once (a watermark trigger that finishes when it fires)."""
    from apache_beam.transforms.trigger import AccumulationMode, AfterWatermark

    return beam.WindowInto(MinuteWindows(lateness_ms), trigger=AfterWatermark(),
                           accumulation_mode=AccumulationMode.DISCARDING)


def window_start_ms(window: IntervalWindow) -> int:
    return int(window.start.micros // 1000)


__all__ = ["MinuteWindows", "minute_windows", "window_start_ms"]
