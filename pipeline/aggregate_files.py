"""A run's aggregates on disk: ``<out>/aggregates/<name>.json``, written atomically by the
pipeline as it finishes and read back by the commands that report on a run (``report``,
``summary``, ``advise``). Pure: files and JSON only.

An aggregate is written piece by piece (``Pieces``): its JSON form and its bytes are never whole
in memory beside the aggregate itself (at 4M events they were a fifth of the writing worker's
peak); the file is byte for byte what ``orjson.dumps`` of the whole form would give.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, TypeVar

import orjson

T = TypeVar("T")


def aggregate_path(out_dir: str, name: str) -> str:
    return os.path.join(out_dir, "aggregates", f"{name}.json")


class Pieces:
    """A JSON object given as (key, value) pairs, made when it is written: a value may be another
    ``Pieces`` or a callable that returns the value (called when its turn comes, its result
    dropped once written). Any other value is one ``orjson.dumps``."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: Iterable[tuple[str, Any]]) -> None:
        self.pairs = pairs


def whole(value: Any) -> Any:
    """``value`` with every ``Pieces`` and callable in it made: the JSON form at once."""
    if callable(value):
        value = value()
    if isinstance(value, Pieces):
        return {k: whole(v) for k, v in value.pairs}
    return value


def write_pieces(f: BinaryIO, value: Any) -> None:
    """``value``'s JSON, as ``orjson.dumps(whole(value))`` would write it (no spaces, keys in order)."""
    if callable(value):
        value = value()
    if not isinstance(value, Pieces):
        f.write(orjson.dumps(value))
        return
    f.write(b"{")
    sep = b""
    for key, item in value.pairs:
        f.write(sep)
        f.write(orjson.dumps(key))
        f.write(b":")
        write_pieces(f, item)
        sep = b","
    f.write(b"}")


def drain(d: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """``d``'s items in order, each taken out of ``d`` as it is given: a JSON form read back is
    freed piece by piece while the aggregate is built from it, not held whole beside it."""
    for key in list(d):
        yield key, d.pop(key)


def write_aggregate(out_dir: str, name: str, data: dict[str, Any] | Pieces) -> str:
    """Write ``data`` as the run's aggregate ``name`` (a reader never sees half a file)."""
    path = aggregate_path(out_dir, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "wb", buffering=1 << 16) as f:
        write_pieces(f, data)
    os.replace(path + ".tmp", path)
    return path


def read_aggregate(out_dir: str, name: str, from_json: Callable[[Any], T]) -> T | None:
    """The run's aggregate ``name``, or None when there is none or it is not one this coldtrace
    reads (another version's format, or cut short): callers then fold the index files instead."""
    try:
        with open(aggregate_path(out_dir, name), "rb") as f:
            # The standard parser, not orjson's: orjson reserves several times the file's size
            # while it parses (at 4M events, 35 MiB more peak resident memory reading report.json
            # and advice.json back, for 0.1 s less).
            return from_json(json.loads(f.read()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
