"""LogEvents → shippable records: NDJSON of ``LogEvent.to_record()``, many events per record.

One Kinesis record per log line would cost one PUT payload unit (25 KB) per ~300-byte line and
60 PutRecords calls per full payload; so a record packs a log stream's lines in order, up to
``max_bytes``. A record's data is exactly the spool format (``pipeline/sources/formats.py``
reads it as it reads a spool file), optionally gzip (members concatenate into a valid file).

Ids: each line carries the CloudWatch event id, log group and stream, from which
``LogEvent.doc_id()`` derives the deterministic document id: a re-shipped line never duplicates.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import orjson

from pipeline.model import LogEvent, stable_id

MAX_KEY_CHARS = 256  # Kinesis partition key limit


@dataclass
class Record:
    key: str                 # partition key: log group + stream, so one instance's lines stay ordered
    data: bytes
    unit: int                # index of the delivered payload the lines came from
    ids: list[str] = field(default_factory=list)   # CloudWatch event ids of the lines
    error: str | None = None  # set when the record cannot be shipped at all (too large)

    @property
    def size(self) -> int:
        return len(self.data) + len(self.key.encode("utf-8"))


def partition_key(log_group: str, log_stream: str) -> str:
    key = f"{log_group}|{log_stream}"
    return key if len(key) <= MAX_KEY_CHARS else stable_id(log_group, log_stream)


_OWN = ("id", "timestamp", "message")


def _lines(events: list[LogEvent]) -> list[bytes]:
    """``orjson.dumps(e.to_record())`` per event, newline-terminated — byte for byte.

    The events of one payload share every field but id, timestamp and message, so those shared
    fields are serialized once and each line costs two small dumps (the id and the message);
    events that differ anywhere else take the plain path.
    """
    first = events[0].to_record()
    shared = {k: v for k, v in first.items() if k not in _OWN}
    if list(first)[:3] != list(_OWN) or not shared or not isinstance(first["timestamp"], int):
        return [orjson.dumps(e.to_record(), option=orjson.OPT_APPEND_NEWLINE) for e in events]
    tail = orjson.dumps(shared)[1:] + b"\n"     # '"log_group":…}\n'
    probe = events[0]
    same = (probe.log_group, probe.log_stream, probe.account, probe.region, probe.function_name,
            probe.function_version, probe.instance_id, probe.arrival_ms)
    dumps = orjson.dumps
    out: list[bytes] = []
    for e in events:
        if (e.log_group, e.log_stream, e.account, e.region, e.function_name, e.function_version,
                e.instance_id, e.arrival_ms) == same and type(e.timestamp) is int:
            out.append(b'{"id":%b,"timestamp":%d,"message":%b,%b' % (dumps(e.id), e.timestamp, dumps(e.message), tail))
        else:
            out.append(dumps(e.to_record(), option=orjson.OPT_APPEND_NEWLINE))
    return out


def _gzip(data: bytes) -> bytes:
    c = zlib.compressobj(1, zlib.DEFLATED, 31)  # level 1: logs still shrink ~5x, at a fraction of the CPU
    return c.compress(data) + c.flush()


def encode(events: list[LogEvent], unit: int, max_bytes: int | None, compress: bool = False) -> list[Record]:
    """Records for one payload's events, in order; ``max_bytes`` bounds data + key (None: one record)."""
    if not events:
        return []
    out: list[Record] = []
    by_key: dict[str, list[LogEvent]] = {}
    for ev in events:
        by_key.setdefault(partition_key(ev.log_group, ev.log_stream), []).append(ev)
    for key, evs in by_key.items():
        lines = _lines(evs)
        ids = [e.id for e in evs]
        if max_bytes is None:
            data = b"".join(lines)
            out.append(Record(key, _gzip(data) if compress else data, unit, ids))
            continue
        budget = max_bytes - len(key.encode("utf-8"))
        out.extend(_pack(key, lines, ids, unit, budget, compress))
    return out


def _pack(key: str, lines: list[bytes], ids: list[str], unit: int, budget: int, compress: bool) -> list[Record]:
    # gzip shrinks log text 4-8x: pack 4x the budget raw, then split any chunk that still overflows
    raw_budget = budget * 4 if compress else budget
    out: list[Record] = []
    start, size = 0, 0
    for i, line in enumerate(lines):
        if len(line) > budget and not compress:
            out.extend(_chunk(key, lines[start:i], ids[start:i], unit, budget, compress))
            out.append(Record(key, b"", unit, [ids[i]], error=f"one log line encodes to {len(line)} bytes, "
                              f"over the {budget} byte record limit"))
            start, size = i + 1, 0
            continue
        if size + len(line) > raw_budget and i > start:
            out.extend(_chunk(key, lines[start:i], ids[start:i], unit, budget, compress))
            start, size = i, 0
        size += len(line)
    out.extend(_chunk(key, lines[start:], ids[start:], unit, budget, compress))
    return out


def _chunk(key: str, lines: list[bytes], ids: list[str], unit: int, budget: int, compress: bool) -> list[Record]:
    if not lines:
        return []
    data = b"".join(lines)
    if compress:
        data = _gzip(data)
    if len(data) <= budget:
        return [Record(key, data, unit, ids)]
    if len(lines) == 1:
        return [Record(key, b"", unit, ids, error=f"one log line encodes to {len(data)} bytes, "
                       f"over the {budget} byte record limit")]
    mid = len(lines) // 2
    return (_chunk(key, lines[:mid], ids[:mid], unit, budget, compress)
            + _chunk(key, lines[mid:], ids[mid:], unit, budget, compress))
