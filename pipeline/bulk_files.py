"""The local index files read back: Elasticsearch bulk format (an action line, then a document line).
Pure: no Beam, so ``coldtrace replay``, the report and the summary read index files without it;
``pipeline.sinks.index_files`` writes them (and re-exports these readers).
"""

from __future__ import annotations

import functools
import os
from typing import Any, Iterator

import orjson


def read_index(path: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(action, document) pairs of a local index file."""
    with open(path, "rb") as f:
        action = None
        for line in f:
            if not line.strip():
                continue
            if action is None:
                action = orjson.loads(line)
            else:
                yield action, orjson.loads(line)
                action = None


def last_versions(path: str) -> Iterator[dict[str, Any]]:
    """Each document of a local index file once, in its last version: a streaming run appends a
    corrected metric point under the same ``_id`` (bulk ``index``: the last one wins, as in
    Elasticsearch). The first pass keeps one line number per id, not the documents."""
    loads = orjson.loads
    last: dict[str, int] = {}
    with open(path, "rb") as f:
        n = 0
        is_doc = False
        for line in f:
            if not line.strip():
                continue
            if not is_doc:
                (meta,) = loads(line).values()
                last[meta.get("_id")] = n
                n += 1
            is_doc = not is_doc
    keep = set(last.values())
    for n, doc in enumerate(read_docs(path)):
        if n in keep:
            yield doc


def read_docs(path: str) -> Iterator[dict[str, Any]]:
    """The documents of a local index file, without decoding the action lines: for readers
    that need no ids (the report and the summary read a million-event run's files)."""
    loads = orjson.loads
    with open(path, "rb") as f:
        is_doc = False
        for line in f:
            if not line.strip():
                continue
            if is_doc:
                yield loads(line)
            is_doc = not is_doc


def doc_id_of(action: dict[str, Any]) -> str:
    """The ``_id`` of a bulk action line, whatever its operation."""
    return next(iter(action.values()))["_id"]


def latest_docs(path: str) -> dict[str, dict[str, Any]]:
    """Documents of a local index file by ``_id``, the last version of each (a streaming run
    appends a re-emitted trace's newer documents after the old ones)."""
    return {doc_id_of(action): doc for action, doc in read_index(path)}

def count_docs(path: str) -> int:
    """Documents in a bulk-format file (non-blank lines over two). The ledger and the summary
    both ask after a run: a file unchanged since (same size and mtime) is read once."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return 0
    return _count_docs(path, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _count_docs(path: str, _size: int, _mtime_ns: int) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip()) // 2
