"""Progress of a running pipeline on the terminal: elapsed time and bytes written so far.

Beam reports counters only at the end of a batch run, so progress is read from what the
writers have put on disk (their temporary shards included), polled by a daemon thread.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console


def _bytes_under(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass  # a temp shard renamed while we looked
    return total


@contextmanager
def progress(label: str, watch_dir: str, quiet: bool = False, console: Console | None = None,
             interval: float = 0.5) -> Iterator[None]:
    if quiet:
        yield
        return
    console = console or Console(stderr=True)
    start = time.monotonic()
    stop = threading.Event()
    with console.status(label) as status:
        def tick() -> None:
            while not stop.wait(interval):
                mb = _bytes_under(watch_dir) / 1e6
                status.update(f"{label} — {time.monotonic() - start:,.1f} s, {mb:,.1f} MB written")

        t = threading.Thread(target=tick, daemon=True)
        t.start()
        try:
            yield
        finally:
            stop.set()
            t.join(timeout=2)
    console.print(f"{label}: done in {time.monotonic() - start:,.1f} s")
