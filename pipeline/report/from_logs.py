"""Invocation documents straight from log events, with no pipeline run: the same parser and the
same fold as the pipeline (``pipeline.parse``, ``pipeline.invocations``), in one process.

For ``coldtrace analyze-cold-starts`` on log files or a log group backfill: it wants figures in
seconds, not index files. Everything is held in memory; for a fleet's worth of logs, run the
pipeline and analyze its index files (``--from``).
"""

from __future__ import annotations

import glob
import os
from collections import defaultdict
from typing import Any, Iterable

from pipeline.invocations import dedupe_sorted, fold_stream
from pipeline.model import DeadLetter, LogEvent, stream_key
from pipeline.parse import parse_event
from pipeline.sources.formats import read_stream


def invocation_docs(events: Iterable[LogEvent], architectures: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Group by log stream, de-duplicate, parse and fold: one document per invocation."""
    streams: dict[str, list[LogEvent]] = defaultdict(list)
    for ev in events:
        streams[stream_key(ev)].append(ev)
    arch = architectures or {}
    docs = []
    for key in sorted(streams):
        events_of = [parse_event(ev) for ev in dedupe_sorted(streams[key])]
        docs.extend(inv.to_doc() for inv in fold_stream(events_of, lambda fn: arch.get(fn, "x86_64")))
    return docs


def expand_inputs(patterns: list[str]) -> list[str]:
    """Files named by paths, directories (every file inside) and globs; ValueError for no match."""
    files: list[str] = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            pattern = os.path.join(pattern, "**", "*")
        matched = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        if not matched:
            raise ValueError(f"no file matches {pattern!r}")
        files.extend(matched)
    return files


def read_files(paths: list[str], account: str | None = None, region: str | None = None,
               log_group: str | None = None) -> tuple[list[LogEvent], list[DeadLetter]]:
    """Every event of the files (any format ``pipeline.sources.formats`` reads) and the dead letters."""
    events: list[LogEvent] = []
    dead: list[DeadLetter] = []
    for path in paths:
        with open(path, "rb") as fh:
            for item in read_stream(fh, path, account, region, log_group):
                if isinstance(item, DeadLetter):
                    dead.append(item)
                else:
                    events.extend(item)
    return events, dead
