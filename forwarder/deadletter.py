"""Dead-letter messages to SQS: the original payload, why it failed, and which events.

A message body is ``{"awslogs": {"data": <original base64>}, "coldtrace": {...}}`` — the same
shape CloudWatch Logs sends, so pointing the forwarder at the queue (an SQS event source)
replays it. ``coldtrace.event_ids`` lists the events that were not shipped when only some
were; a replay ships just those (and if it ships more, deterministic ids deduplicate).

A message is at most ``max_bytes``. When the original is larger, the failed events are
re-encoded (untouched, with their CloudWatch ids) into as many smaller payloads as needed.
The dead-letter queue holds lines before redaction, like CloudWatch itself: it is encrypted
and stays in the account; a replay redacts when it ships.
"""

from __future__ import annotations

import base64
import time
import zlib
from typing import Any

import orjson

from forwarder import aws
from forwarder.decode import Letter, whole_payload


def messages(letter: Letter, max_bytes: int) -> list[bytes] | None:
    """SQS bodies for one letter; None when it cannot fit (an oversized undecodable payload)."""
    u = letter.unit
    meta: dict[str, Any] = {"reason": letter.reason[:2000], "stage": letter.stage, "source": u.source,
                            "time_ms": int(time.time() * 1000)}
    if u.item_id is not None:
        meta["item_id"] = u.item_id
    obj = whole_payload(u)
    if obj is not None:
        meta["log_group"] = obj.get("logGroup")
        meta["log_stream"] = obj.get("logStream")
    if letter.event_ids is not None:
        meta["event_ids"] = letter.event_ids
    body = orjson.dumps({"awslogs": {"data": u.original}, "coldtrace": meta})
    if len(body) <= max_bytes:
        return [body]
    if obj is None or not isinstance(obj.get("logEvents"), list):
        return None
    wanted = set(letter.event_ids) if letter.event_ids is not None else None
    events = [e for e in obj["logEvents"] if wanted is None or str(e.get("id")) in wanted]
    meta.pop("event_ids", None)
    return _split(obj, events, meta, max_bytes)


def _split(obj: dict[str, Any], events: list[Any], meta: dict[str, Any], max_bytes: int) -> list[bytes] | None:
    gz = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip framing, as CloudWatch sends it
    data = base64.b64encode(gz.compress(orjson.dumps(dict(obj, logEvents=events))) + gz.flush()).decode()
    body = orjson.dumps({"awslogs": {"data": data}, "coldtrace": dict(meta, split=True)})
    if len(body) <= max_bytes:
        return [body]
    if len(events) <= 1:
        return None
    mid = len(events) // 2
    left, right = _split(obj, events[:mid], meta, max_bytes), _split(obj, events[mid:], meta, max_bytes)
    return None if left is None or right is None else left + right


class DeadLetterQueue:
    def __init__(self, url: str, max_bytes: int = 1 << 20, region: str | None = None,
                 endpoint_url: str | None = None) -> None:
        self.url, self.max_bytes, self.region, self.endpoint_url = url, max_bytes, region, endpoint_url

    def send(self, letters: list[Letter]) -> list[tuple[Letter, str]]:
        """Send every letter; returns those that could not be sent, with the reason."""
        unsent: list[tuple[Letter, str]] = []
        for letter in letters:
            bodies = messages(letter, self.max_bytes)
            if bodies is None:
                unsent.append((letter, f"payload of {letter.unit.size} bytes exceeds the dead-letter "
                                       f"message limit of {self.max_bytes} bytes and cannot be split"))
                continue
            try:
                sqs = aws.client("sqs", self.region, self.endpoint_url)
                for body in bodies:
                    sqs.send_message(QueueUrl=self.url, MessageBody=body.decode())
            except Exception as exc:  # SDK/network failure: the caller reports the payload instead
                unsent.append((letter, f"SendMessage failed: {aws.error_code(exc) or type(exc).__name__}"))
        return unsent
