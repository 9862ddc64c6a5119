"""Event sources → units: one subscription payload as it was delivered, decoded or not.

The forwarder is invoked three ways, and each has its own failure contract:
- ``subscription``: CloudWatch Logs invokes it directly with ``{"awslogs": {"data": …}}``;
- ``kinesis``: the subscription targets a Kinesis stream the forwarder consumes; each record's
  data is CloudWatch's gzip(JSON);
- ``sqs``: a replay queue (the forwarder's own dead-letter messages, or Lambda's async DLQ).

A ``Unit`` keeps the original payload (for the dead-letter queue) and the item id that
``batchItemFailures`` reports. Decoding itself is ``pipeline.parse.awslogs`` — one decoder for
the forwarder and the pipeline.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.parse.awslogs import PayloadError, decode_data


@dataclass
class Unit:
    """One delivered payload. ``obj`` is the decoded subscription JSON, or ``error`` says why not."""

    source: str                       # "subscription" | "kinesis" | "sqs"
    item_id: str | None               # sequence number (Kinesis) or message id (SQS)
    original: str                     # base64(gzip(json)) as delivered, or the raw body
    obj: dict[str, Any] | None = None
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
        unit.obj = decode_data(data)
    except PayloadError as exc:
        unit.error = str(exc)
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
