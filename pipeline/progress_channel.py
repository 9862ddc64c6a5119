"""A side channel for live progress: readers append small marks to files, the terminal tails them.

Beam reports counters only at the end of a batch run (FnApiRunner, DaskRunner), so the file
reader writes, at most every ``EVERY_S`` seconds, one line per input file it advanced in
``{"source": path, "events": n, "newest_ms": t}`` (events read from that file so far, newest event
time among them) to its own file under ``<out>/.progress/``. Counts are cumulative per source and
the reader keeps the largest, so a file read twice — a retried bundle, or Beam's DaskRunner, which
reads a source once for each consumer of it — is counted once. Appends to a local (or shared)
directory work on every runner that runs here; a worker that cannot write simply stops writing
(progress is best effort, never a failure).
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
    """Counts events per source and appends the changed counts to this writer's file now and then."""

    def __init__(self, directory: str, every_s: float = EVERY_S) -> None:
        self.directory, self.every_s = directory, every_s
        self._fh = None
        self._counts: dict[str, list[int | None]] = {}   # source → [events so far, newest ms]
        self._changed: set[str] = set()
        self._last = time.monotonic()  # the first mark after every_s (a bundle's end flushes anyway)
        self._broken = False

    def add(self, events: int, newest_ms: int | None, source: str = "") -> None:
        count = self._counts.setdefault(source, [0, None])
        count[0] += events
        if newest_ms is not None and (count[1] is None or newest_ms > count[1]):
            count[1] = newest_ms
        self._changed.add(source)
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self.flush()

    def flush(self) -> None:
        if not self._changed or self._broken:
            return
        lines = b"".join(orjson.dumps({"source": s, "events": self._counts[s][0], "newest_ms": self._counts[s][1]})
                         + b"\n" for s in sorted(self._changed))
        try:
            if self._fh is None:
                os.makedirs(self.directory, exist_ok=True)
                name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}.ndjson"
                self._fh = open(os.path.join(self.directory, name), "ab", buffering=0)
            self._fh.write(lines)
        except OSError:
            self._broken = True  # progress is best effort: a read-only worker just stays silent
            return
        self._changed.clear()

    def close(self) -> None:
        self.flush()
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class ProgressTail:
    """Sums the marks of every writer (the largest count seen per source), reading only what was
    appended since the last poll."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.per_source: dict[str, int] = {}
        self.newest_ms: int | None = None
        self._offsets: dict[str, int] = {}

    @property
    def events(self) -> int:
        return sum(self.per_source.values())

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
                    source, events, newest = str(mark.get("source", "")), int(mark.get("events") or 0), mark.get("newest_ms")
                except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
                    continue
                if events > self.per_source.get(source, 0):
                    self.per_source[source] = events
                if newest is not None and (self.newest_ms is None or newest > self.newest_ms):
                    self.newest_ms = int(newest)
        return self.events, self.newest_ms
