"""LogEvents → shippable records: NDJSON of ``LogEvent.to_record()``, many events per record.

One Kinesis record per log line would cost one PUT payload unit (25 KB) per ~300-byte line and
60 PutRecords calls per full payload; so a record packs a log stream's lines in order, up to
``max_bytes``. A record's data is exactly the spool format (``pipeline/sources/formats.py``
reads it as it reads a spool file), gzip by default (members concatenate into a valid file).

Records are built as the lines arrive (``Packer``): the handler feeds a window of events at a
time and ships each record as soon as it is full, so it never holds a payload's lines, or its
records, whole. A compressed record is one deflate stream fed piece by piece; its exact size is
learnt (a sync flush) only when the worst case of the next piece could overflow the limit.

Ids: each line carries the CloudWatch event id, log group and stream, from which
``LogEvent.doc_id()`` derives the deterministic document id: a re-shipped line never duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

try:  # zlib-ng writes the same gzip as zlib with ~3x less CPU at level 6; zlib where it is not installed
    from zlib_ng import zlib_ng as deflate
except ImportError:  # pragma: no cover - zlib-ng ships wheels for Linux and macOS, x86_64 and arm64
    import zlib as deflate  # type: ignore[no-redef]

from pipeline.model import LogEvent, stable_id

MAX_KEY_CHARS = 256  # Kinesis partition key limit
# gzip level 6: on Lambda logs 1.16x the bytes of CloudWatch's own gzip (zlib: 1.14x), where level 1
# ships 1.5-1.8x; docs/forwarder.md has the measurement and the CPU it costs.
GZIP_LEVEL = 6
PIECE = 64 << 10          # raw bytes fed to the compressor at a time
RAW_PER_RECORD = 8 << 20  # a compressed record never inflates past this: readers hold it whole
_SLACK = 64               # gzip header + sync-flush marker + final block + trailer, with room to spare


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


def lines_of(events: list[LogEvent]) -> list[bytes]:
    """``orjson.dumps(e.to_record())`` per event, newline-terminated — byte for byte.

    The events of one payload share every field but id, timestamp and message, so those shared
    fields are serialized once and each line costs two small dumps (the id and the message);
    events that differ anywhere else take the plain path.
    """
    if not events:
        return []
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


def _worst(n: int) -> int:
    """The most deflate can turn ``n`` bytes into (stored blocks), plus a flush marker."""
    return n + (n >> 10) + 16


class Packer:
    """The lines of one partition key → records of at most ``max_bytes`` (data + key), in order.

    ``add`` returns the records it completed; ``close`` the last one. ``level`` None: plain
    NDJSON; else gzip at that level. ``max_bytes`` None: no size limit (one record, unless a
    compressed one would inflate past ``RAW_PER_RECORD``).
    """

    def __init__(self, key: str, unit: int, max_bytes: int | None, level: int | None = None) -> None:
        self.key, self.unit, self.level = key, unit, level
        self.budget = None if max_bytes is None else max_bytes - len(key.encode("utf-8"))
        self._start()

    def _start(self) -> None:
        self.parts: list[bytes] = []
        self.ids: list[str] = []
        self.size = 0      # bytes in parts: exact for what the compressor has flushed
        self.pending = 0   # worst-case compressed size of what it has not yet flushed
        self.raw = 0       # uncompressed bytes in this record
        self.z = deflate.compressobj(self.level, deflate.DEFLATED, 31) if self.level is not None else None

    def add(self, lines: list[bytes], ids: list[str]) -> list[Record]:
        out: list[Record] = []
        if self.z is None:
            self._add_plain(lines, ids, out)
            return out
        start, size = 0, 0
        for i, line in enumerate(lines):  # pieces of ~PIECE bytes: few compressor calls, little slack
            size += len(line)
            if size >= PIECE:
                self._feed(lines[start:i + 1], ids[start:i + 1], out)
                start, size = i + 1, 0
        if start < len(lines):
            self._feed(lines[start:], ids[start:], out)
        return out

    def close(self) -> list[Record]:
        return [self._finish()] if self.ids else []

    def _add_plain(self, lines: list[bytes], ids: list[str], out: list[Record]) -> None:
        budget = self.budget
        for line, eid in zip(lines, ids):
            if budget is not None and len(line) > budget:
                if self.ids:
                    out.append(self._finish())
                out.append(self._too_big([eid], len(line)))
                continue
            if budget is not None and self.size + len(line) > budget and self.ids:
                out.append(self._finish())
            self.parts.append(line)
            self.ids.append(eid)
            self.size += len(line)

    def _feed(self, lines: list[bytes], ids: list[str], out: list[Record]) -> None:
        piece = b"".join(lines)
        worst = _worst(len(piece))
        if self.ids and self.raw + len(piece) > RAW_PER_RECORD:
            out.append(self._finish())
        if self.budget is None or self.size + self.pending + worst + _SLACK <= self.budget:
            data = self.z.compress(piece)  # type: ignore[union-attr]
            self.pending = max(0, self.pending + worst - len(data))  # what flushed came from what was fed
            self._put(data, len(piece), ids)
            return
        if self.pending:  # near the limit: learn the exact size so far
            self._put(self.z.flush(deflate.Z_SYNC_FLUSH), 0, [])  # type: ignore[union-attr]
            self.pending = 0
        trial = self.z.copy()  # type: ignore[union-attr]
        got = trial.compress(piece) + trial.flush(deflate.Z_SYNC_FLUSH)
        if self.size + len(got) + _SLACK <= self.budget:
            self.z = trial
            self._put(got, len(piece), ids)
            return
        if self.ids:  # full: ship it, and try the piece in a fresh record
            out.append(self._finish())
            self._feed(lines, ids, out)
        elif len(lines) > 1:
            mid = len(lines) // 2
            self._feed(lines[:mid], ids[:mid], out)
            self._feed(lines[mid:], ids[mid:], out)
        else:
            self._start()
            out.append(self._too_big(ids, len(got)))

    def _put(self, data: bytes, raw: int, ids: list[str]) -> None:
        if data:
            self.parts.append(data)
            self.size += len(data)
        self.raw += raw
        self.ids.extend(ids)

    def _finish(self) -> Record:
        if self.z is not None:
            self.parts.append(self.z.flush())
        rec = Record(self.key, b"".join(self.parts), self.unit, self.ids)
        self._start()
        return rec

    def _too_big(self, ids: list[str], size: int) -> Record:
        return Record(self.key, b"", self.unit, ids, error=f"one log line encodes to {size} bytes, "
                      f"over the {self.budget} byte record limit")


def encode(events: list[LogEvent], unit: int, max_bytes: int | None, compress: bool = False,
           level: int = GZIP_LEVEL) -> list[Record]:
    """Records for some events, in order per partition key (the whole-list form of ``Packer``)."""
    out: list[Record] = []
    by_key: dict[str, list[LogEvent]] = {}
    for ev in events:
        by_key.setdefault(partition_key(ev.log_group, ev.log_stream), []).append(ev)
    for key, evs in by_key.items():
        packer = Packer(key, unit, max_bytes, level if compress else None)
        out.extend(packer.add(lines_of(evs), [e.id for e in evs]))
        out.extend(packer.close())
    return out
