"""The catch-up loop's checkpoint: where every source stopped, and what state to carry on. Pure.

One JSON file, replaced atomically after each read, next to the record files of carried
state. ``pending`` makes the append of a read's index shards to the local index files
exactly-once: the sizes of the index files before the append are saved first, so a loop that
was killed mid-append truncates them back and appends again.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from pipeline.sources.kinesis_shards import Cursor

VERSION = 1


@dataclass
class Checkpoint:
    source: str                                    # the input this checkpoint belongs to
    round: int = 0
    watermark_ms: int | None = None
    cursors: list[Cursor] = field(default_factory=list)        # kinesis: where each shard resumes
    finished: list[str] = field(default_factory=list)          # kinesis: shards read to their end
    marks: dict[str, int] = field(default_factory=dict)        # kinesis: arrival time read up to, per shard
    delays: dict[str, Any] = field(default_factory=dict)       # kinesis: measured delivery delays, per shard
    seen_files: dict[str, int] = field(default_factory=dict)   # files: path -> size when read
    until_ms: int | None = None                                # cloudwatch: events read up to here
    state_files: list[str] = field(default_factory=list)       # carried folds (record files)
    functions: list[str] = field(default_factory=list)         # functions seen in the logs
    metrics_until_ms: int | None = None                        # GetMetricData polled up to here
    health: dict[str, Any] = field(default_factory=dict)       # open minutes: start ms -> {figure: max}
    advice_raised: list[str] = field(default_factory=list)     # regressions raised as alarms (finding keys)
    pending: dict[str, Any] | None = None                      # an index append in progress
    totals: dict[str, int] = field(default_factory=dict)
    version: int = VERSION

    def to_json(self) -> bytes:
        d = asdict(self)
        d["cursors"] = [c.to_json() for c in self.cursors]
        return orjson.dumps(d, option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes) -> "Checkpoint":
        d = orjson.loads(data)
        if d.get("version") != VERSION:
            raise ValueError(f"checkpoint version {d.get('version')!r} is not {VERSION}")
        d["cursors"] = [Cursor.from_json(c) for c in d.get("cursors", [])]
        return cls(**d)

    def add(self, **counts: int) -> None:
        for key, n in counts.items():
            self.totals[key] = self.totals.get(key, 0) + int(n)


def load(path: str, source: str) -> Checkpoint:
    """The checkpoint at ``path``, or a fresh one; refuses a checkpoint of another source."""
    if not os.path.exists(path):
        return Checkpoint(source=source)
    with open(path, "rb") as f:
        ck = Checkpoint.from_json(f.read())
    if ck.source != source:
        raise ValueError(f"checkpoint {path} belongs to {ck.source!r}, not {source!r}: "
                         "use another --out (or --checkpoint) directory, or delete it to start over")
    return ck


def save(path: str, ck: Checkpoint) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".tmp", "wb") as f:
        f.write(ck.to_json())
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)
