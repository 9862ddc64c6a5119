"""A run's aggregates on disk: ``<out>/aggregates/<name>.json``, written atomically by the
pipeline as it finishes and read back by the commands that report on a run (``report``,
``summary``, ``advise``). Pure: files and orjson only."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

T = TypeVar("T")


def aggregate_path(out_dir: str, name: str) -> str:
    return os.path.join(out_dir, "aggregates", f"{name}.json")


def write_aggregate(out_dir: str, name: str, data: dict[str, Any]) -> str:
    """Write ``data`` as the run's aggregate ``name`` (a reader never sees half a file)."""
    path = aggregate_path(out_dir, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "wb") as f:
        f.write(orjson.dumps(data))
    os.replace(path + ".tmp", path)
    return path


def read_aggregate(out_dir: str, name: str, from_json: Callable[[Any], T]) -> T | None:
    """The run's aggregate ``name``, or None when there is none or it is not one this coldtrace
    reads (another version's format, or cut short): callers then fold the index files instead."""
    try:
        with open(aggregate_path(out_dir, name), "rb") as f:
            return from_json(orjson.loads(f.read()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
