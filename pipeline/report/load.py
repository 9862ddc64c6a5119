"""The local index files of a run, read back (``<out>/indices/coldtrace-*.ndjson``).

Invocations, metrics, alarms and spans are loaded as documents; logs and dead letters are only
counted (the report shows no single log line, and the logs file is the largest by far). A file
that is absent is told apart from one that is empty: the report says which.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from pipeline.model import (INDEX_ALARMS, INDEX_DEADLETTER, INDEX_INVOCATIONS, INDEX_LOGS, INDEX_METRICS,
                            INDEX_TRACES)

ALL_INDICES = (INDEX_LOGS, INDEX_INVOCATIONS, INDEX_TRACES, INDEX_METRICS, INDEX_ALARMS, INDEX_DEADLETTER)
LOADED = (INDEX_INVOCATIONS, INDEX_METRICS, INDEX_ALARMS, INDEX_TRACES)


@dataclass
class RunDocs:
    out_dir: str
    invocations: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    alarms: list[dict[str, Any]] = field(default_factory=list)
    spans: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int | None] = field(default_factory=dict)  # None: no such index file


def index_file(out_dir: str, index: str) -> str:
    return os.path.join(out_dir, "indices", f"{index}.ndjson")


def _count_lines(path: str) -> int:
    n = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            n += block.count(b"\n")
        if f.tell() and not _ends_with_newline(f):
            n += 1
    return n


def _ends_with_newline(f) -> bool:
    f.seek(-1, os.SEEK_END)
    return f.read(1) == b"\n"


def load_run(out_dir: str) -> RunDocs:
    """Every index file of the run in ``out_dir``; FileNotFoundError when it has no invocations."""
    from pipeline.sinks.index_files import latest_docs, read_docs

    inv_path = index_file(out_dir, INDEX_INVOCATIONS)
    if not os.path.exists(inv_path):
        raise FileNotFoundError(f"{inv_path} not found: is {out_dir!r} the --out of a coldtrace run?")
    run = RunDocs(out_dir=out_dir)
    targets = {INDEX_INVOCATIONS: run.invocations, INDEX_METRICS: run.metrics, INDEX_ALARMS: run.alarms,
               INDEX_TRACES: run.spans}
    for index in ALL_INDICES:
        path = index_file(out_dir, index)
        if not os.path.exists(path):
            run.counts[index] = None
        elif index == INDEX_TRACES:  # a streaming run appends re-emitted traces: the last version counts
            targets[index].extend(latest_docs(path).values())
            run.counts[index] = len(targets[index])
        elif index in targets:
            targets[index].extend(read_docs(path))
            run.counts[index] = len(targets[index])
        else:
            run.counts[index] = _count_lines(path) // 2  # bulk format: an action line per document
    return run
