"""Where a run's advice aggregate lives: ``<out>/aggregates/advice.json`` when the pipeline wrote
it, else built by streaming ``<out>/indices/coldtrace-invocations.ndjson`` line by line (memory
bounded by the aggregate, never by the file)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import orjson

from pipeline import aggregate_files
from pipeline.advise.aggregate import AdviceAggregate
from pipeline.local_index import count_docs
from pipeline.model import INDEX_INVOCATIONS

AGGREGATE = "advice"
_ACTIONS = frozenset(("create", "index"))


@dataclass
class Loaded:
    aggregate: AdviceAggregate
    source: str          # the file the figures came from
    bad_lines: int = 0   # lines of the index that were not JSON documents (told, never dropped silently)


def aggregate_path(out_dir: str) -> str:
    return aggregate_files.aggregate_path(out_dir, AGGREGATE)


def write_aggregate(out_dir: str, aggregate: AdviceAggregate) -> str:
    return aggregate_files.write_aggregate(out_dir, AGGREGATE, aggregate.json_pieces())


def from_index(path: str) -> Loaded:
    """Fold every invocation document of a bulk-format index file into an aggregate."""
    agg, bad = AdviceAggregate(), 0
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                bad += 1
                continue
            if not isinstance(doc, dict) or (len(doc) == 1 and next(iter(doc)) in _ACTIONS):
                continue              # the bulk action line before each document
            if doc.get("event.dataset") != "coldtrace.invocation" or "@timestamp" not in doc:
                bad += 1
                continue
            try:
                agg.add(doc)
            except (TypeError, ValueError):
                bad += 1
    return Loaded(agg, path, bad)


def load_aggregate(out_dir: str) -> Loaded:
    """The run's aggregate; FileNotFoundError (with what to do) when the run has neither file.

    The pipeline's aggregate is used when it counts as many invocations as the index holds; one
    left by an earlier run (a later run in another mode may write none), or of another format, is
    stale: the index is read."""
    path = aggregate_path(out_dir)
    index = os.path.join(out_dir, "indices", f"{INDEX_INVOCATIONS}.ndjson")
    agg = aggregate_files.read_aggregate(out_dir, AGGREGATE, AdviceAggregate.from_json)
    if agg is None and os.path.exists(path) and not os.path.exists(index):
        raise ValueError(f"{path} is not an advice aggregate this coldtrace reads")
    if agg is not None and (not os.path.exists(index) or agg.invocations == count_docs(index)):
        return Loaded(agg, path)
    if not os.path.exists(index):
        raise FileNotFoundError(f"neither {path} nor {index} found: is {out_dir!r} the --out of a coldtrace run?")
    return from_index(index)
