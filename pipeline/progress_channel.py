"""A side channel for live progress: readers append small marks to files, the terminal tails them.

Beam reports counters only at the end of a batch run (FnApiRunner, DaskRunner), so the file
reader writes, at most every ``EVERY_S`` seconds, one line ``{"events": n, "newest_ms": t}`` (events
read since its last line, newest event time among them) to its own file under
``<out>/.progress/``. Appends to a local (or shared) directory work on every runner that runs
here; a worker that cannot write simply stops writing (progress is best effort, never a failure).
"""

from __future__ import annotations

import os
import time
import uuid

import orjson

PROGRESS_DIR = ".progress"
EVERY_S = 0.25


def progress_dir(out_dir: str) -> str:
    return os.path.join(out_dir, PROGRESS_DIR)


class ProgressMarks:
    """Counts events and appends a mark to this writer's own file now and then."""

    def __init__(self, directory: str, every_s: float = EVERY_S) -> None:
        self.directory, self.every_s = directory, every_s
        self._fh = None
        self._events = 0
        self._newest: int | None = None
        self._last = 0.0
        self._broken = False

    def add(self, events: int, newest_ms: int | None) -> None:
        self._events += events
        if newest_ms is not None and (self._newest is None or newest_ms > self._newest):
            self._newest = newest_ms
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self.flush()

    def flush(self) -> None:
        if not self._events or self._broken:
            return
        try:
            if self._fh is None:
                os.makedirs(self.directory, exist_ok=True)
                name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}.ndjson"
                self._fh = open(os.path.join(self.directory, name), "ab", buffering=0)
            self._fh.write(orjson.dumps({"events": self._events, "newest_ms": self._newest}) + b"\n")
        except OSError:
            self._broken = True  # progress is best effort: a read-only worker just stays silent
            return
        self._events, self._newest = 0, None

    def close(self) -> None:
        self.flush()
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class ProgressTail:
    """Sums the marks of every writer, reading only what was appended since the last poll."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.events = 0
        self.newest_ms: int | None = None
        self._offsets: dict[str, int] = {}

    def poll(self) -> tuple[int, int | None]:
        try:
            names = os.listdir(self.directory)
        except OSError:
            return self.events, self.newest_ms
        for name in names:
            path = os.path.join(self.directory, name)
            try:
                with open(path, "rb") as f:
                    f.seek(self._offsets.get(name, 0))
                    data = f.read()
            except OSError:
                continue
            end = data.rfind(b"\n") + 1  # a line still being written waits for the next poll
            self._offsets[name] = self._offsets.get(name, 0) + end
            for line in data[:end].splitlines():
                try:
                    mark = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                self.events += int(mark.get("events") or 0)
                newest = mark.get("newest_ms")
                if newest is not None and (self.newest_ms is None or newest > self.newest_ms):
                    self.newest_ms = int(newest)
        return self.events, self.newest_ms
