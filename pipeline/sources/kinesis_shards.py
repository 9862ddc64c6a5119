"""Kinesis shards, start positions and cursors: where reading starts, resumes and continues.

Pure (boto3 clients are passed in). A *cursor* says where reading of one shard resumes: after
a saved (last claimed) sequence number, or at a start position when nothing was read yet. Resharding
closes shards and opens children (a split: one parent, two children; a merge: two parents,
one child). Every shard is followed from exactly one place — the lineage of its
``ParentShardId`` — so a child is read once, after its parent was read to the end, and
records of one partition key stay in order across a split. (A merge's child is reached from
its ``ParentShardId`` only; the tail of its ``AdjacentParentShardId`` may still be in flight
when the child is read. Event-time processing keeps that harmless: ids are deterministic and
the fold orders lines by time.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from pipeline.aws_errors import THROTTLE_CODES, error_code  # noqa: F401  (re-exported)
from pipeline.sources.aws_retry import Backoff, call_with_backoff

START_KINDS = ("LATEST", "TRIM_HORIZON", "AT_TIMESTAMP")


@dataclass(frozen=True, slots=True)
class StartPosition:
    """Where a shard is first read: LATEST, TRIM_HORIZON, or AT_TIMESTAMP (ms since the epoch)."""

    kind: str = "LATEST"
    timestamp_ms: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in START_KINDS:
            raise ValueError(f"start position {self.kind!r} is not one of {', '.join(START_KINDS)}")
        if (self.kind == "AT_TIMESTAMP") != (self.timestamp_ms is not None):
            raise ValueError("AT_TIMESTAMP needs a timestamp, and only AT_TIMESTAMP takes one")

    @classmethod
    def parse(cls, text: str) -> "StartPosition":
        """``latest``, ``trim_horizon``, or ``at_timestamp:<ISO 8601 or ms>``."""
        kind, _, value = text.strip().partition(":")
        kind = kind.upper().replace("-", "_")
        if kind != "AT_TIMESTAMP":
            if value:
                raise ValueError(f"start position {text!r}: only at_timestamp takes a value")
            return cls(kind)
        if not value:
            raise ValueError(f"start position {text!r}: at_timestamp needs a time, e.g. at_timestamp:2024-05-01T10:00:00Z")
        return cls(kind, parse_time_ms(value))

    def for_children(self) -> "StartPosition":
        """Children of a shard read from this position: a child opened after a LATEST start
        holds only newer records, so it is read from its beginning."""
        return StartPosition("TRIM_HORIZON") if self.kind == "LATEST" else self

    def __str__(self) -> str:
        return self.kind.lower() if self.timestamp_ms is None else f"at_timestamp:{self.timestamp_ms}"


def parse_time_ms(value: str) -> int:
    """ISO 8601 (``Z`` or an offset) or integer milliseconds since the epoch."""
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is neither ISO 8601 nor milliseconds since the epoch") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Shard:
    id: str
    parent: str | None = None
    adjacent_parent: str | None = None
    ending_seq: str | None = None    # set once the shard is closed (split or merged)

    @property
    def closed(self) -> bool:
        return self.ending_seq is not None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> "Shard":
        return cls(d["ShardId"], d.get("ParentShardId"), d.get("AdjacentParentShardId"),
                   d.get("SequenceNumberRange", {}).get("EndingSequenceNumber"))


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where reading of one shard resumes: after ``after`` (a sequence number), else at ``start``."""

    shard_id: str
    after: str | None = None
    start: StartPosition = field(default_factory=StartPosition)

    def iterator_args(self) -> dict[str, Any]:
        """GetShardIterator arguments for this cursor."""
        if self.after is not None:
            return {"ShardId": self.shard_id, "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                    "StartingSequenceNumber": self.after}
        args: dict[str, Any] = {"ShardId": self.shard_id, "ShardIteratorType": self.start.kind}
        if self.start.timestamp_ms is not None:
            args["Timestamp"] = datetime.fromtimestamp(self.start.timestamp_ms / 1000, tz=timezone.utc)
        return args

    def advanced(self, seq: str) -> "Cursor":
        return replace(self, after=seq)

    def to_json(self) -> dict[str, Any]:
        return {"shard": self.shard_id, "after": self.after, "start": str(self.start)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Cursor":
        return cls(d["shard"], d.get("after"), StartPosition.parse(d.get("start") or "trim_horizon"))


def initial_cursors(shards: Iterable[Shard], start: StartPosition) -> list[Cursor]:
    """Cursors of a fresh start. LATEST reads the open shards from now on; TRIM_HORIZON and
    AT_TIMESTAMP read each lineage from its root (a shard whose parent has aged out), and the
    children are reached from their parents."""
    shards = list(shards)
    if start.kind == "LATEST":
        return [Cursor(s.id, start=start) for s in shards if not s.closed]
    ids = {s.id for s in shards}
    return [Cursor(s.id, start=start) for s in shards if s.parent not in ids]


def children_of(shards: Iterable[Shard], shard_id: str, start: StartPosition) -> list[Cursor]:
    """Cursors of the shards continued from ``shard_id`` once it is read to its end."""
    return [Cursor(s.id, start=start.for_children()) for s in shards if s.parent == shard_id]


def resume_cursors(shards: Iterable[Shard], saved: Iterable[Cursor], finished: Iterable[str],
                   start: StartPosition) -> list[Cursor]:
    """Cursors for the next read from a checkpoint: the saved cursors, plus the children of
    finished shards that no saved cursor covers (a parent that ended after the children were
    listed). Nothing saved at all: a fresh start."""
    shards = list(shards)
    saved = list(saved)
    done = set(finished)
    if not saved and not done:
        return initial_cursors(shards, start)
    have = {c.shard_id for c in saved} | done
    out = list(saved)
    for s in shards:
        if s.id not in have and s.parent in done:
            out.append(Cursor(s.id, start=start.for_children()))
            have.add(s.id)
    return out


# -- API calls (retried as pipeline.sources.aws_retry decides) -----------------------------

def list_shards(client: Any, stream: str, backoff: Backoff | None = None,
                sleep: Callable[[float], None] = time.sleep) -> list[Shard]:
    """Every shard of the stream (ListShards, paginated; transient faults retried)."""
    backoff = backoff or Backoff()
    target = {"StreamARN": stream} if stream.startswith("arn:") else {"StreamName": stream}
    shards: list[Shard] = []
    what = f"Kinesis stream {stream}: ListShards"
    resp = call_with_backoff(client.list_shards, backoff, sleep, what=what, **target)
    while True:
        shards.extend(Shard.from_api(d) for d in resp.get("Shards", []))
        token = resp.get("NextToken")
        if not token:
            return shards
        resp = call_with_backoff(client.list_shards, backoff, sleep, what=what, NextToken=token)
