"""Pure readers of the file formats coldtrace accepts, yielding batches of LogEvents.

- subscription payloads as the forwarder receives them: one JSON per line (``{"awslogs":…}``,
  a decoded ``{"messageType":…}`` object, or a base64 string), or one (pretty-printed) JSON per file;
- CloudWatch Logs exports: ``<iso timestamp> <message>`` lines, gzip or plain, in
  ``…/<log stream>/000000.gz``; continuation lines (stack traces) join the previous message;
- NDJSON of LogEvent records: the forwarder's spool.

A batch holds the events of one log stream, so per-element overhead stays small and the fold
downstream sees whole environments. Bad input becomes a DeadLetter, never an exception.
"""

from __future__ import annotations

import gzip
import io
import re
import time
from datetime import datetime
from typing import IO, Any, Iterator

import orjson

from pipeline.model import DeadLetter, LogEvent
from pipeline.parse.awslogs import (
    MAX_DECOMPRESSED,
    PayloadError,
    decode_data_raw,
    decode_gzip_json,
    enrich,
    load_object,
    to_payload,
)

BATCH = 1000
MAX_LINE = 16 << 20  # a single line longer than this is dead-lettered, not decoded (nor held whole)
CHUNK = 1 << 20      # files are read in chunks of this many bytes, never whole
# A gzip file inflating beyond this ratio (once past GZIP_RATIO_FLOOR bytes) is a bomb: real logs
# compress 5-50x, deflate's ceiling is about 1032x.
MAX_GZIP_RATIO = 500
GZIP_RATIO_FLOOR = 8 << 20
_EXPORT_LINE = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (.*)", re.S)

Item = list[LogEvent] | DeadLetter


class PayloadEvents(list):
    """A batch that is one whole subscription payload, with the payload's gzip bytes as read.

    A shuffle that crosses processes can carry ``gzip`` instead of re-packing and re-compressing
    the events (``GroupByLogStream``): CloudWatch already compressed them. Whoever changes an
    event (redaction) sets ``gzip`` to None, so the bytes never say other than the events."""

    gzip: bytes | None = None
    account: str | None = None
    region: str | None = None


def _now_ms() -> int:
    return int(time.time() * 1000)


def _dead(raw: bytes | str, error: str, source: str, stage: str = "read") -> DeadLetter:
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "backslashreplace")
    return DeadLetter(raw=text[:1 << 20], stage=stage, error=error, source=source, time_ms=_now_ms())


def sniff(head: bytes) -> str:
    """Which format a file holds, from its first bytes (after gunzip)."""
    s = head.lstrip()
    if s.startswith(b'{"id":'):
        return "spool"  # LogEvent.to_record() leads with the id; a long message can push log_group past 2000
    if s.startswith(b"{") or s.startswith(b"["):
        if b'"awslogs"' in s[:200] or b'"messageType"' in s[:400]:
            return "subscription"
        if b'"log_stream"' in s[:2000] or b'"log_group"' in s[:2000]:
            return "spool"
        return "subscription"
    if _EXPORT_LINE.match(s[:64]):
        return "export"
    return "subscription"  # base64 payload lines


class GzipBomb(OSError):
    """A gzip file inflating far beyond what logs compress to."""


class _GuardedGzip:
    """A GzipFile that refuses to inflate more than MAX_GZIP_RATIO times the compressed bytes it
    consumed, once past GZIP_RATIO_FLOOR bytes: a bomb becomes a dead letter, not an OOM or an
    hour of inflating zeros."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self.raw, self.gz, self.out = raw, gzip.GzipFile(fileobj=raw), 0

    def peek(self, n: int) -> bytes:
        return self.gz.peek(n)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        data = self.gz.read(n)
        self.out += len(data)
        if self.out > GZIP_RATIO_FLOOR:
            try:
                consumed = max(1, self.raw.tell())
            except (OSError, ValueError):  # an unseekable stream: no ratio to check
                return data
            if self.out > MAX_GZIP_RATIO * consumed:
                raise GzipBomb(f"gzip inflates {self.out:,} bytes from {consumed:,} (over {MAX_GZIP_RATIO}:1): "
                               "a gzip bomb, not logs")
        return data


def open_maybe_gzip(raw: IO[bytes]) -> IO[bytes]:
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        return _GuardedGzip(buffered)  # type: ignore[return-value]
    return buffered


def read_stream(stream: IO[bytes], source: str, account: str | None = None, region: str | None = None,
                log_group: str | None = None, counts: Any = None) -> Iterator[Item]:
    """Every batch and dead letter in one file (already opened, possibly gzip).

    ``counts`` (a ``pipeline.ledger.SourceCounts``), when given, counts the subscription payloads
    and control messages, which leave no item behind."""
    try:
        f = open_maybe_gzip(stream)
        head = f.peek(4096)[:4096] if hasattr(f, "peek") else b""
        kind = sniff(head)
        if kind == "export":
            yield from read_export(f, source, log_group, account, region)
        elif kind == "spool":
            yield from read_spool(f, source)
        else:
            yield from read_subscription(f, source, account, region, counts)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:  # truncated/corrupt gzip mid-file
        yield _dead(b"", f"cannot read {source}: {exc}", source)


class TooLong(bytes):
    """The first 4 KiB of a line longer than MAX_LINE (the rest was skipped, never held)."""

    length: int = 0


def _chunks(f: IO[bytes], first: bytes) -> Iterator[bytes]:
    for i in range(0, len(first), CHUNK):
        yield first[i:i + CHUNK]
    while chunk := f.read(CHUNK):
        yield chunk


def _lines(f: IO[bytes], first: bytes = b"", limit: int = MAX_LINE, keepends: bool = False) -> Iterator[bytes]:
    """The lines of ``first`` then of the rest of ``f``, read in chunks; memory stays bounded by
    ``limit`` however long a line is (a longer one comes out as a ``TooLong``, its bytes skipped).
    Lines end without their newline unless ``keepends``."""
    nl = b"\n" if keepends else b""
    head: list[bytes] = []   # the start of a line that goes on in the next chunk
    size = 0
    skipping: TooLong | None = None
    for chunk in _chunks(f, first):
        parts = chunk.split(b"\n")
        tail = parts.pop()   # what follows the chunk's last newline
        for piece in parts:
            if skipping is not None:
                skipping.length += len(piece) + 1
                yield skipping
                skipping = None
                continue
            if head:
                piece = b"".join(head) + piece
                head, size = [], 0
            if len(piece) >= limit:
                long = TooLong(piece[:4096])
                long.length = len(piece) + 1
                yield long
            else:
                yield piece + nl if keepends else piece
        if not tail:
            continue
        if skipping is not None:
            skipping.length += len(tail)
        elif size + len(tail) > limit:
            skipping = TooLong((head[0] if head else tail)[:4096])
            skipping.length = size + len(tail)
            head, size = [], 0
        else:
            head.append(tail)
            size += len(tail)
    if skipping is not None:
        yield skipping
    elif head:
        yield b"".join(head)


def _too_long(line: TooLong, where: str) -> DeadLetter:
    return _dead(bytes(line), f"line of {line.length:,} bytes exceeds the {MAX_LINE:,} byte cap", where)


def _pretty_json(head: bytes) -> bool:
    """Does the file start like one pretty-printed JSON object (a first line that does not close it)?"""
    s = head.lstrip()
    end = s.find(b"\n")
    return s[:1] == b"{" and end >= 0 and not s[:end].rstrip().endswith(b"}")


def read_subscription(f: IO[bytes], source: str, account: str | None, region: str | None,
                      counts: Any = None) -> Iterator[Item]:
    data = f.read(CHUNK)
    if _pretty_json(data):  # one pretty-printed payload per file: the only case read whole (capped)
        data += f.read(MAX_DECOMPRESSED + 1 - len(data))
        try:
            obj = orjson.loads(data) if len(data) <= MAX_DECOMPRESSED else None
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            yield from _payload_items(obj, data.strip(), source, account, region, counts)
            return
    for n, line in enumerate(_lines(f, data)):
        where = f"{source}:{n + 1}"
        if type(line) is TooLong:
            yield _too_long(line, where)
            continue
        line = line.strip()
        if not line:
            continue
        try:
            obj, gz = _line_to_payload(line)
        except PayloadError as exc:
            yield _dead(line, str(exc), where)
            continue
        yield from _payload_items(obj, line, where, account, region, counts, gz)


def _line_to_payload(line: bytes) -> tuple[dict, bytes | None]:
    """(decoded payload, its gzip bytes when the line carried it compressed)."""
    if line[:1] in (b"{", b"["):
        obj = load_object(line, "line", "a subscription payload object")
        awslogs = obj.get("awslogs")
        if isinstance(awslogs, dict):
            data = awslogs.get("data")
            if not isinstance(data, str):
                raise PayloadError("awslogs object lacks a string 'data'")
            return _gzip_only(*decode_data_raw(data))
        if "messageType" in obj:
            return obj, None
        raise PayloadError("JSON object is neither {'awslogs': …} nor a subscription message")
    if line[:2] == b"\x1f\x8b":
        return decode_gzip_json(line), bytes(line)
    try:
        return _gzip_only(*decode_data_raw(line))
    except PayloadError as exc:
        raise PayloadError(f"line is not a subscription payload (neither JSON nor base64 of gzip JSON): {exc}") from None


def _gzip_only(obj: dict, raw: bytes) -> tuple[dict, bytes | None]:
    return obj, (raw if raw[:2] == b"\x1f\x8b" else None)


def _payload_items(obj: dict, raw: bytes, where: str, account: str | None, region: str | None,
                   counts: Any = None, gz: bytes | None = None) -> Iterator[Item]:
    try:
        payload = to_payload(obj, account=account, region=region)
    except PayloadError as exc:
        yield _dead(raw, str(exc), where, stage="decode")
        return
    if counts is not None:
        counts.payloads += 1
        counts.control_messages += payload.is_control
    if payload.is_control:
        return  # a health check of the destination: acknowledged, carries no log event
    if gz is not None and 0 < len(payload.events) <= BATCH:
        whole = PayloadEvents(payload.events)
        whole.gzip, whole.account, whole.region = gz, account, region
        yield whole
        return
    for i in range(0, len(payload.events), BATCH):
        yield payload.events[i:i + BATCH]


def read_spool(f: IO[bytes], source: str) -> Iterator[Item]:
    """NDJSON of LogEvent records; batches are regrouped by log stream."""
    by_stream: dict[tuple[str, str], list[LogEvent]] = {}
    for n, line in enumerate(_lines(f)):
        if type(line) is TooLong:
            yield _too_long(line, f"{source}:{n + 1}")
            continue
        line = line.strip()
        if not line:
            continue
        try:
            ev = enrich(LogEvent.from_record(orjson.loads(line)))
        except (orjson.JSONDecodeError, ValueError, AttributeError, TypeError) as exc:
            yield _dead(line, f"not a LogEvent record: {exc}", f"{source}:{n + 1}")
            continue
        key = (ev.log_group, ev.log_stream)
        batch = by_stream.setdefault(key, [])
        batch.append(ev)
        if len(batch) >= BATCH:
            yield by_stream.pop(key)
    yield from by_stream.values()


def _export_stream_name(source: str) -> str:
    """``…/<task>/<log stream>/000000.gz`` → the log stream (which itself contains slashes)."""
    parts = source.replace("\\", "/").split("/")
    for i, part in enumerate(parts):
        if re.fullmatch(r"\d{4}", part) and i + 3 < len(parts) and parts[i + 3].startswith("["):
            return "/".join(parts[i:i + 4])
    return parts[-2] if len(parts) > 1 else source


def read_export(f: IO[bytes], source: str, log_group: str | None, account: str | None,
                region: str | None) -> Iterator[Item]:
    """CloudWatch Logs export lines; a line without a timestamp continues the previous message."""
    stream = _export_stream_name(source)
    group = log_group or ""
    batch: list[LogEvent] = []
    cur: list[bytes] | None = None
    cur_ts = 0
    cur_size = 0
    seq = 0

    def emit() -> LogEvent:
        nonlocal seq
        seq += 1
        msg = b"".join(cur or []).decode("utf-8", "replace")
        return enrich(LogEvent(id=f"export:{stream}:{cur_ts}:{seq}", timestamp=cur_ts, message=msg,
                               log_group=group, log_stream=stream, account=account, region=region))

    for n, line in enumerate(_lines(f, keepends=True)):
        if type(line) is TooLong:
            yield _too_long(line, f"{source}:{n + 1}")
            continue
        m = _EXPORT_LINE.match(line)
        ts_ms = None
        if m:
            try:
                ts_ms = int(datetime.fromisoformat(m.group(1).decode().replace("Z", "+00:00")).timestamp() * 1000)
            except ValueError:  # "2024-13-45T99:…": looks like a timestamp, is not one
                yield _dead(line, "export line has an invalid timestamp", f"{source}:{n + 1}")
                continue
        if ts_ms is not None:
            if cur is not None:
                if cur_size > MAX_LINE:
                    yield _dead(b"".join(cur), f"message of {cur_size:,} bytes exceeds the {MAX_LINE:,} byte cap",
                                source)
                else:
                    batch.append(emit())
                if len(batch) >= BATCH:
                    yield batch
                    batch = []
            cur_ts = ts_ms
            cur = [m.group(2)]
            cur_size = len(line)
        elif cur is not None:
            cur_size += len(line)
            if cur_size <= MAX_LINE:  # past the cap, continuation lines are counted, not kept
                cur.append(line)
        elif line.strip():
            yield _dead(line, "export line lacks a leading ISO timestamp", source)
    if cur is not None:
        if cur_size > MAX_LINE:
            yield _dead(b"".join(cur), f"message of {cur_size:,} bytes exceeds the {MAX_LINE:,} byte cap", source)
        else:
            batch.append(emit())
    if batch:
        yield batch
