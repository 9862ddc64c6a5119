"""Event sources → units: one subscription payload as it was delivered, decoded or not.

The forwarder is invoked three ways, and each has its own failure contract:
- ``subscription``: CloudWatch Logs invokes it directly with ``{"awslogs": {"data": …}}``;
- ``kinesis``: the subscription targets a Kinesis stream the forwarder consumes; each record's
  data is CloudWatch's gzip(JSON);
- ``sqs``: a replay queue (the forwarder's own dead-letter messages, or Lambda's async DLQ).

A ``Unit`` keeps the original payload (for the dead-letter queue) and the item id that
``batchItemFailures`` reports. Base64 is decoded up front (a bad one fails the unit at once);
the gunzipped JSON is parsed a window of events at a time (``open_payload``), so a 6 MiB
payload is never a tree of Python objects whole: ``orjson.loads`` of the whole document peaks at
~14x its size, which for a full CloudWatch payload is ~85 MiB. Gunzip and validation are
``pipeline.parse.awslogs`` — one decoder for the forwarder and the pipeline.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.parse.awslogs import MAX_DECOMPRESSED, PayloadError, gunzip, load_object

WINDOW_BYTES = 64 << 10    # JSON of log events parsed at a time (~230 Lambda lines)
WINDOW_EVENTS = 1000       # events per window when the document had to be parsed whole
_KEY = b'"logEvents":['
_NEXT = b'},{"'
_HEAD = frozenset(("messageType", "owner", "logGroup", "logStream"))  # read before the events


@dataclass
class Unit:
    """One delivered payload. ``obj`` is the decoded subscription JSON, or ``error`` says why not."""

    source: str                       # "subscription" | "kinesis" | "sqs"
    item_id: str | None               # sequence number (Kinesis) or message id (SQS)
    original: str                     # base64(gzip(json)) as delivered, or the raw body
    obj: dict[str, Any] | None = None   # a payload delivered as JSON (SQS), already parsed
    raw: bytes | None = None            # else the payload's bytes (gzip JSON), parsed when handled
    error: str | None = None
    only_ids: frozenset[str] | None = None   # a replay of a partial failure: just these events
    size: int = 0                     # bytes as delivered


@dataclass
class Letter:
    """A unit (or some of its events) that was not shipped: at which stage, and why."""

    unit: Unit
    stage: str                       # "decode" | "ship"
    reason: str
    event_ids: list[str] | None = None   # None: the whole payload


def units_of(event: Any) -> tuple[str, list[Unit]]:
    """The source kind of a Lambda event and its units; an unknown shape is one failed unit."""
    if isinstance(event, dict):
        awslogs = event.get("awslogs")
        if isinstance(awslogs, dict):
            return "subscription", [_from_data(awslogs.get("data"), "subscription", None)]
        records = event.get("Records")
        if isinstance(records, list) and records and isinstance(records[0], dict):
            src = records[0].get("eventSource")
            if src == "aws:kinesis":
                return "kinesis", [_kinesis(r) for r in records]
            if src == "aws:sqs":
                return "sqs", [_sqs(r) for r in records]
    raw = orjson.dumps(event, default=str).decode() if not isinstance(event, str) else event
    return "subscription", [Unit("subscription", None, raw[:1 << 20], error=(
        "unrecognised event: expected {'awslogs': {'data': …}} or Kinesis/SQS Records"), size=len(raw))]


def _from_data(data: Any, source: str, item_id: str | None, only_ids: frozenset[str] | None = None) -> Unit:
    if not isinstance(data, str):
        raw = orjson.dumps(data, default=str).decode()
        return Unit(source, item_id, raw, error="awslogs.data is not a string", size=len(raw))
    unit = Unit(source, item_id, data, only_ids=only_ids, size=len(data))
    try:
        unit.raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        unit.error = f"invalid base64: {exc}"
    return unit


def _kinesis(record: dict[str, Any]) -> Unit:
    kin = record.get("kinesis") or {}
    item_id = kin.get("sequenceNumber")
    return _from_data(kin.get("data"), "kinesis", str(item_id) if item_id is not None else None)


def _sqs(record: dict[str, Any]) -> Unit:
    """An SQS body: our dead-letter message, Lambda's async DLQ event, or a bare payload."""
    item_id = record.get("messageId")
    item_id = str(item_id) if item_id is not None else None
    body = record.get("body")
    if not isinstance(body, str):
        return Unit("sqs", item_id, str(body), error="SQS message body is not a string")
    if body[:1] != "{":
        return _from_data(body.strip(), "sqs", item_id)
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return Unit("sqs", item_id, body, error=f"SQS message body is not JSON: {exc}", size=len(body))
    if isinstance(obj, dict) and isinstance(obj.get("awslogs"), dict):
        meta = obj.get("coldtrace") if isinstance(obj.get("coldtrace"), dict) else {}
        ids = meta.get("event_ids")
        only = frozenset(str(i) for i in ids) if isinstance(ids, list) else None
        return _from_data(obj["awslogs"].get("data"), "sqs", item_id, only)
    if isinstance(obj, dict) and "messageType" in obj:
        return Unit("sqs", item_id, base64.b64encode(body.encode()).decode(), obj=obj, size=len(body))
    return Unit("sqs", item_id, body, error="SQS message is neither {'awslogs': …} nor a subscription message",
                size=len(body))


Windows = Iterator[list[Any]]


def open_payload(unit: Unit) -> tuple[dict[str, Any], Windows]:
    """(the payload without its events — ``logEvents`` is ``[]`` —, its events a window at a time).

    Raises ``PayloadError`` for bytes that are not gzip JSON; a window can raise it too, for a
    document that turns out invalid past its first windows."""
    if unit.obj is not None:
        return _split_parsed(unit.obj)
    raw = unit.raw or b""
    return split_gzip(raw) if raw[:2] == b"\x1f\x8b" else split_events(raw)


def _inflate(raw: bytes, step: int) -> Iterator[bytes]:
    """gzip → pieces of at most ``step`` bytes, refusing more than MAX_DECOMPRESSED in all."""
    d = zlib.decompressobj(wbits=47)
    total, pending = 0, raw
    while True:
        try:
            piece = d.decompress(pending, step)
        except zlib.error as exc:
            raise PayloadError(f"not valid gzip data: {exc}") from None
        total += len(piece)
        if total > MAX_DECOMPRESSED:
            raise PayloadError(f"decompressed payload exceeds the {MAX_DECOMPRESSED} byte cap (gzip bomb?)")
        if piece:
            yield piece
        pending = d.unconsumed_tail
        if d.eof:
            return
        if not piece and not pending:
            raise PayloadError("truncated gzip data (stream ended before its end marker)")


def whole_payload(unit: Unit) -> dict[str, Any] | None:
    """The unit's payload as one object, None if it does not decode: for the dead-letter path only
    (it holds every event at once)."""
    if unit.obj is not None:
        return unit.obj
    if unit.raw is None:
        return None
    try:
        header, windows = open_payload(unit)
        return dict(header, logEvents=[e for w in windows for e in w])
    except PayloadError:
        return None


def split_gzip(raw: bytes) -> tuple[dict[str, Any], Windows]:
    """``split_events`` of gzip bytes, inflated as the windows are read: the decoded document is
    never whole in memory (unless it has to be parsed whole, see ``split_events``)."""
    pieces = _inflate(raw, WINDOW_BYTES)
    buf = bytearray()
    for piece in pieces:
        buf += piece
        if _KEY in buf or len(buf) >= 1 << 16:
            break
    start = buf.find(_KEY, 0, 1 << 16)
    header = None
    if start >= 0:
        first = start + len(_KEY)
        try:  # the keys before the events: CloudWatch writes every key it reads here before them
            header = orjson.loads(buf[:first] + b"]}")
        except orjson.JSONDecodeError:
            header = None
    if not isinstance(header, dict) or header.get("logEvents") != [] or not _HEAD <= header.keys():
        return split_events(bytes(buf + b"".join(pieces)))  # another order: the end of the document is needed
    del buf[:first]
    return header, _inflated_windows(buf, pieces, raw)


def _boundary(buf: bytearray, cut: int) -> int:
    """Where the first window boundary at or after ``cut`` is (the ``}``), -1 if not in ``buf`` yet."""
    j = buf.find(_NEXT, cut)
    while j >= 0 and j + 4 < len(buf) and buf[j + 4] in b",:]}":
        j = buf.find(_NEXT, j + 1)
    return j if j >= 0 and j + 4 < len(buf) else -1


def _inflated_windows(buf: bytearray, pieces: Iterator[bytes], raw: bytes) -> Windows:
    done = 0
    while True:
        cut, stop = WINDOW_BYTES, -1
        while (stop := _boundary(buf, cut)) < 0:
            piece = next(pieces, None)
            if piece is None:
                break
            cut = max(cut, len(buf) - 4)
            buf += piece
        if stop < 0:  # the end: the last window, ']', and what follows the events
            end = buf.rfind(b"}]")
            events: list[Any] | None = []
            try:
                if end >= 0:
                    events = orjson.loads(b"[" + buf[:end + 1] + b"]")
                rest = buf[end + 1:] if end >= 0 else buf
                if not isinstance(orjson.loads(b'{"logEvents":[' + rest), dict):
                    events = None
            except orjson.JSONDecodeError:
                events = None
            if events is None:
                yield from _rest_of(raw, done)
            elif events:
                yield events
            return
        try:
            events = orjson.loads(b"[" + buf[:stop + 1] + b"]")
        except orjson.JSONDecodeError:
            yield from _rest_of(raw, done)
            return
        done += len(events)
        yield events
        del buf[:stop + 2]  # the window and the comma after it


def _rest_of(raw: bytes, done: int) -> Windows:
    """The events after the first ``done``, from the whole document (which decides what is valid)."""
    events = _whole(gunzip(raw)).get("logEvents")
    yield from _slices(events[done:] if isinstance(events, list) else [])


def split_events(body: bytes | bytearray) -> tuple[dict[str, Any], Windows]:
    """A subscription JSON document → (header, windows of its events), parsing one window at a time.

    A window ends before a ``},{"`` whose next byte is not one of ``,:]}``. That ``"`` is not
    escaped (a ``{`` precedes it) and cannot close a string (a closing quote is followed by one
    of ``,:]}``), so it opens one: the ``},{`` around it is structure, not text. If it separates
    objects deeper than the event list, the window that ends there is unbalanced and fails to
    parse; then the whole document is parsed and the events not yet yielded follow from it.
    """
    start = body.find(_KEY, 0, 1 << 16)
    end = body.rfind(b"}]")
    if start < 0 or end < start:
        return _split_parsed(_whole(body))
    first = start + len(_KEY)
    try:
        header = orjson.loads(body[:first] + body[end + 1:])  # '…"logEvents":[' + ']…}'
    except orjson.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("logEvents") != []:
        return _split_parsed(_whole(body))
    return header, _windows(body, first, end + 1)


def _windows(body: bytes | bytearray, lo: int, hi: int) -> Windows:
    pos, done = lo, 0
    while pos < hi:
        stop, cut = hi, pos + WINDOW_BYTES
        while cut < hi:
            j = body.find(_NEXT, cut, hi)
            if j < 0:
                break
            if body[j + 4:j + 5] not in (b",", b":", b"]", b"}"):
                stop = j + 1
                break
            cut = j + 1
        try:
            events = orjson.loads(b"[" + body[pos:stop] + b"]")
        except orjson.JSONDecodeError:
            rest = _whole(body).get("logEvents")
            yield from _slices(rest[done:] if isinstance(rest, list) else [])
            return
        done += len(events)
        yield events
        pos = stop + 1  # past the comma


def _whole(body: bytes | bytearray) -> dict[str, Any]:
    return load_object(body)


def _split_parsed(obj: dict[str, Any]) -> tuple[dict[str, Any], Windows]:
    events = obj.get("logEvents")
    header = {k: v for k, v in obj.items() if k != "logEvents"}
    header["logEvents"] = [] if isinstance(events, list) else events  # not a list: validation says so
    return header, _slices(events if isinstance(events, list) else [])


def _slices(events: list[Any]) -> Windows:
    for i in range(0, len(events), WINDOW_EVENTS):
        yield events[i:i + WINDOW_EVENTS]
