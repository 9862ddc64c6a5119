"""Decode CloudWatch Logs subscription payloads (``awslogs.data`` = base64(gzip(json))).

Pure and shared: the forwarder decodes what CloudWatch sends it, the pipeline decodes the same
payloads from files. Decompression is capped so a gzip bomb is a dead letter, not an OOM.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

# Compiled codecs where their wheels are installed, the standard library's otherwise: the same
# bytes out either way (bench/pipeline.py prints both; CPU per default-fleet payload: ISA-L
# 10 us against zlib's 16, pybase64 0.5-1 us against base64's 4.5-5).
try:
    from isal import isal_zlib as _inflate
except ImportError:  # pragma: no cover - the pure fallback is tested by forcing it
    _inflate = zlib
try:
    from pybase64 import b64decode
except ImportError:  # pragma: no cover
    b64decode = base64.b64decode

from pipeline.model import LogEvent
from pipeline.parse.names import function_from_group, version_and_instance

MAX_DECOMPRESSED = 64 << 20  # CloudWatch payloads are ≤ 1 MiB compressed; 64 MiB is generous


class PayloadError(ValueError):
    """A payload that cannot be decoded; the message is the dead letter's reason."""


@dataclass(slots=True)
class Payload:
    message_type: str
    owner: str | None
    log_group: str
    log_stream: str
    events: list[LogEvent]

    @property
    def is_control(self) -> bool:
        return self.message_type == "CONTROL_MESSAGE"


STEP = 1 << 20  # inflate this much at a time: the output grows in place, peak memory ≈ the output


def gunzip(data: bytes, limit: int = MAX_DECOMPRESSED) -> bytes | bytearray:
    """Decompress gzip (or zlib) data, refusing more than ``limit`` bytes of output."""
    if _inflate is not zlib:
        try:
            return _gunzip(data, limit, _inflate)
        except (_CodecError, PayloadError):
            # Rare: zlib decides and words every refusal, so the dead letter is the same whichever
            # codec ran (retried after the handler: the failed attempt's output is freed first).
            pass
    try:
        return _gunzip(data, limit, zlib)
    except _CodecError as exc:
        raise PayloadError(f"not valid gzip data: {exc.__cause__}") from None


class _CodecError(Exception):
    """The codec refused the data (its own words are in ``__cause__``)."""


def _gunzip(data: bytes, limit: int, codec) -> bytes | bytearray:
    d = codec.decompressobj(wbits=47)  # 32+15: detect gzip or zlib header
    try:
        first = d.decompress(data, min(STEP, limit + 1))
    except codec.error as exc:
        raise _CodecError from exc
    if d.eof and len(first) <= limit:
        return first  # the common case: a payload well under STEP, inflated in one call
    out = bytearray(first)
    pending = d.unconsumed_tail
    if len(out) > limit:
        raise PayloadError(f"decompressed payload exceeds the {limit} byte cap (gzip bomb?)")
    try:
        while not d.eof:
            piece = d.decompress(pending, min(STEP, limit + 1 - len(out)))
            out += piece
            if len(out) > limit:
                raise PayloadError(f"decompressed payload exceeds the {limit} byte cap (gzip bomb?)")
            pending = d.unconsumed_tail
            if not piece and not pending:
                break  # input used up, no end marker
    except codec.error as exc:
        raise _CodecError from exc
    if not d.eof:
        raise PayloadError("truncated gzip data (stream ended before its end marker)")
    return out


def decode_data(data: str | bytes, limit: int = MAX_DECOMPRESSED) -> dict[str, Any]:
    """``awslogs.data`` → the decoded subscription JSON object."""
    return decode_data_raw(data, limit)[0]


def decode_data_raw(data: str | bytes, limit: int = MAX_DECOMPRESSED) -> tuple[dict[str, Any], bytes]:
    """``awslogs.data`` → (the decoded subscription JSON object, the bytes it was decoded from)."""
    try:
        raw = b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        try:  # rare, and worded by the standard library whichever decoder ran
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise PayloadError(f"invalid base64: {exc}") from None
    return decode_gzip_json(raw, limit), raw


def decode_gzip_json(raw: bytes, limit: int = MAX_DECOMPRESSED) -> dict[str, Any]:
    return load_object(gunzip(raw, limit) if raw[:2] == b"\x1f\x8b" else raw)


def load_object(body: bytes | bytearray, what: str = "payload", wanted: str = "an object") -> dict[str, Any]:
    """A payload's JSON object; PayloadError (one line naming ``what`` was read) when it is not
    JSON or not an object."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"{what} is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise PayloadError(f"{what} is a JSON {type(obj).__name__}, not {wanted}")
    return obj


def to_payload(obj: dict[str, Any], account: str | None = None, region: str | None = None,
               arrival_ms: int | None = None, first: int = 0) -> Payload:
    """Validate a decoded subscription object and turn its events into enriched LogEvents.

    ``first``: the index of ``obj``'s first event in its payload, when the events come a window at
    a time (the forwarder): an event without an id is named by its index in the whole payload."""
    mtype = obj.get("messageType")
    if mtype not in ("DATA_MESSAGE", "CONTROL_MESSAGE"):
        raise PayloadError(f"unknown messageType {mtype!r} (expected DATA_MESSAGE or CONTROL_MESSAGE)")
    group, stream = obj.get("logGroup"), obj.get("logStream")
    events = obj.get("logEvents")
    if mtype == "CONTROL_MESSAGE":
        return Payload(mtype, obj.get("owner"), str(group or ""), str(stream or ""), [])
    if not isinstance(group, str) or not isinstance(stream, str):
        raise PayloadError("DATA_MESSAGE lacks a string logGroup/logStream")
    if not isinstance(events, list):
        raise PayloadError("DATA_MESSAGE lacks a logEvents list")
    owner = obj.get("owner")
    acct = owner if isinstance(owner, str) and owner.isdigit() else account
    fn = function_from_group(group)
    version, instance = version_and_instance(stream)
    new = LogEvent
    out: list[LogEvent] = []
    append = out.append
    for i, ev in enumerate(events):  # once per log event: exact-type tests first, checks after
        msg = ev.get("message") if isinstance(ev, dict) else _not_an_object(i)
        ts = ev.get("timestamp")
        if type(ts) is not int:
            if type(msg) is not str or isinstance(ts, bool) or not isinstance(ts, (int, float)):
                raise PayloadError(f"logEvents[{i}] lacks a string message or a numeric timestamp")
            ts = int(ts)
        elif type(msg) is not str:
            raise PayloadError(f"logEvents[{i}] lacks a string message or a numeric timestamp")
        eid = ev.get("id")
        if type(eid) is not str or not eid:
            eid = str(eid or f"{stream}:{ts}:{i + first}")
        append(new(eid, ts, msg, group, stream, acct, region, fn, version, instance, arrival_ms))
    return Payload(mtype, owner if isinstance(owner, str) else None, group, stream, out)


def _not_an_object(i: int):
    raise PayloadError(f"logEvents[{i}] is not an object")


def enrich(event: LogEvent) -> LogEvent:
    """Fill function, version and instance from the event's group and stream when missing."""
    if event.function_name is None:
        event.function_name = function_from_group(event.log_group)
    if event.instance_id is None:
        event.function_version, event.instance_id = version_and_instance(event.log_stream)
    return event
