"""Progress of a running pipeline: events read so far and per second, the newest event time read
(the watermark of the readers), iterator age (how far that is behind the clock), bytes written.

Beam reports counters only at the end of a batch run, so progress comes from a side channel:
the file readers' marks (``pipeline.progress_channel``) and the size of what the writers have put
on disk, polled by a daemon thread. Three ways to show it: a rich status line on stderr, JSON
lines on stdout (``{"progress": {...}}``, for machines), or nothing.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import IO, Iterator

import orjson
from rich.console import Console

from pipeline.model import iso_ms
from pipeline.progress_channel import ProgressTail

RATE_WINDOW_S = 3.0  # events/s is measured over the last few seconds


def _bytes_under(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass  # a temp shard renamed while we looked
    return total


@dataclass
class Snapshot:
    elapsed_s: float
    events: int
    events_per_s: float
    watermark_ms: int | None
    iterator_age_ms: int | None
    bytes_written: int

    def to_json(self) -> dict:
        out = asdict(self)
        out["elapsed_s"] = round(self.elapsed_s, 3)
        out["events_per_s"] = round(self.events_per_s, 1)
        out["watermark"] = iso_ms(self.watermark_ms) if self.watermark_ms is not None else None
        return out


def human_duration(ms: int | None) -> str:
    if ms is None:
        return "–"
    s = ms / 1000
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:,.1f} {unit}"
    return f"{s:,.1f} s"


class Tracker:
    """Polls the side channel and the output directory; keeps the last snapshot."""

    def __init__(self, watch_dir: str, progress_dir: str | None, clock=time.monotonic, wall=time.time) -> None:
        self.watch_dir, self.clock, self.wall = watch_dir, clock, wall
        self.tail = ProgressTail(progress_dir) if progress_dir else None
        self.start = clock()
        self.samples: deque[tuple[float, int]] = deque()
        self.last: Snapshot | None = None

    def poll(self) -> Snapshot:
        now = self.clock()
        events, newest = self.tail.poll() if self.tail else (0, None)
        self.samples.append((now, events))
        while len(self.samples) > 2 and now - self.samples[0][0] > RATE_WINDOW_S:
            self.samples.popleft()
        t0, e0 = self.samples[0]
        rate = (events - e0) / (now - t0) if now > t0 else 0.0
        age = int(self.wall() * 1000) - newest if newest is not None else None
        self.last = Snapshot(now - self.start, events, rate, newest, age, _bytes_under(self.watch_dir))
        return self.last

    def final(self) -> Snapshot:
        snap = self.poll()
        snap.events_per_s = snap.events / snap.elapsed_s if snap.elapsed_s > 0 else 0.0
        return snap


def status_line(label: str, s: Snapshot) -> str:
    return (f"{label} — {s.elapsed_s:,.1f} s · {s.events:,} events read ({s.events_per_s:,.0f}/s) · "
            f"watermark {s.to_json()['watermark'] or '–'} · iterator age {human_duration(s.iterator_age_ms)} · "
            f"{s.bytes_written / 1e6:,.1f} MB written")


@contextmanager
def progress(label: str, watch_dir: str, quiet: bool = False, console=None, interval: float = 0.5, *,
             progress_dir: str | None = None, json_lines: bool = False,
             stream: IO[str] | None = None) -> Iterator[Tracker]:
    """Show progress while the body runs. ``quiet``: nothing; ``json_lines``: one JSON line per
    interval on ``stream`` (stdout); else a rich status on stderr. Yields the Tracker, whose
    ``last`` snapshot holds the final figures after the body."""
    tracker = Tracker(watch_dir, progress_dir)
    if quiet:
        try:
            yield tracker
        finally:
            tracker.final()
        return
    if json_lines:
        out = stream or sys.stdout

        def emit(snap: Snapshot, done: bool = False) -> None:
            out.write(orjson.dumps({"progress": {**snap.to_json(), "done": done}}).decode() + "\n")
            out.flush()

        try:
            with _every(interval, lambda: emit(tracker.poll())):
                yield tracker
        finally:
            emit(tracker.final(), done=True)
        return

    console = console or Console(stderr=True)
    with console.status(label) as status, _every(interval, lambda: status.update(status_line(label, tracker.poll()))):
        yield tracker
    console.print(status_line(f"{label}: done", tracker.final()))


@contextmanager
def _every(interval: float, fn) -> Iterator[None]:
    """Call ``fn`` every ``interval`` seconds on a daemon thread while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            fn()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=2)
