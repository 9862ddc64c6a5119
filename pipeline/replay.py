"""Replay of dead letters: back through the decode path, into a spool the pipeline reads.

Dead letters live in two places: the pipeline's ``coldtrace-deadletter`` index (its local file
``<out>/indices/coldtrace-deadletter.ndjson``: inputs the reader could not decode, streams the fold
failed on, documents Elasticsearch refused) and the forwarder's SQS dead-letter queue (payloads it
could not decode or ship, with the ids of the events that failed). Each is decoded again with the
current code (``pipeline.sources.formats``, the pipeline's own reader); what decodes now becomes
LogEvent records in a spool file, and what still fails is kept with its reason.

Deterministic document ids make a replay harmless: an event that was indexed after all gets the
same ``_id`` again. Pure: no Beam, no AWS client here (``coldtrace replay`` drives both).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import orjson

from pipeline.bulk_files import read_index
from pipeline.model import DeadLetter, LogEvent
from pipeline.sources.formats import read_stream

RAW_CAP = 1 << 20  # dead letters keep at most this much of their input (pipeline.sources.formats)
READ_STAGES = ("read", "decode")


@dataclass
class Replayed:
    """One dead letter, tried again."""

    origin: str                       # file:line, or sqs:<message id>
    stage: str                        # where it failed the first time
    reason: str                       # why it failed the first time
    events: list[LogEvent] = field(default_factory=list)
    error: str | None = None          # why it still fails (None: replayed)
    handle: Any = None                # the SQS receipt handle, to delete once replayed

    @property
    def ok(self) -> bool:
        return self.error is None


def _decode(raw: bytes, source: str, account: str | None, region: str | None,
            only_ids: set[str] | None = None) -> tuple[list[LogEvent], str | None]:
    events: list[LogEvent] = []
    errors: list[str] = []
    for item in read_stream(io.BytesIO(raw), source, account, region):
        if isinstance(item, DeadLetter):
            errors.append(item.error)
        else:
            events.extend(ev for ev in item if only_ids is None or ev.id in only_ids)
    if errors:
        return events, "; ".join(dict.fromkeys(errors))
    if not events:
        return events, "decodes to no log event (a control message, or none of the failed ids)"
    return events, None


def from_dead_letter_doc(doc: dict[str, Any], origin: str, account: str | None = None,
                         region: str | None = None) -> Replayed:
    """A document of the dead-letter index, tried again where it can be."""
    stage = str(doc.get("coldtrace.stage", "?"))
    reason = str(doc.get("error.message", ""))
    raw = doc.get("event.original")
    item = Replayed(origin, stage, reason)
    if stage == "elasticsearch":
        item.error = ("a document Elasticsearch refused, not an event: fix the mapping, then "
                      "`coldtrace es-load <out>` (its dead letters are in <out>/es-rejected.ndjson)")
    elif stage not in READ_STAGES:
        item.error = (f"stage {stage}: the input's event ids were not kept; run the pipeline on the "
                      f"source input again ({doc.get('coldtrace.source', 'unknown source')})")
    elif not isinstance(raw, str) or not raw:
        item.error = "the dead letter kept no input (an unreadable file): read the file again"
    else:
        data = raw.encode("utf-8", "surrogateescape")
        item.events, item.error = _decode(data, origin, account, region)
        if item.error and len(data) >= RAW_CAP:
            item.error += f" (the dead letter kept only the first {RAW_CAP:,} bytes of the input)"
    return item


def from_sqs_body(body: str, message_id: str, account: str | None = None, region: str | None = None,
                  handle: Any = None) -> Replayed:
    """A message of the forwarder's dead-letter queue: ``{"awslogs": …, "coldtrace": {…}}``, or a
    bare payload (Lambda's own asynchronous-invocation DLQ)."""
    origin = f"sqs:{message_id}"
    try:
        obj = orjson.loads(body) if body[:1] == "{" else None
    except orjson.JSONDecodeError:
        obj = None
    meta = obj.get("coldtrace") if isinstance(obj, dict) and isinstance(obj.get("coldtrace"), dict) else {}
    item = Replayed(origin, str(meta.get("stage", "forwarder")), str(meta.get("reason", "")), handle=handle)
    ids = meta.get("event_ids")
    only = {str(i) for i in ids} if isinstance(ids, list) else None
    raw = orjson.dumps({"awslogs": obj["awslogs"]}) if isinstance(obj, dict) and "awslogs" in obj else body.encode()
    item.events, item.error = _decode(raw, origin, account, region, only)
    return item


def dead_letter_docs(path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file:line, document) of a local dead-letter index file (bulk format)."""
    for n, (_, doc) in enumerate(read_index(path)):
        yield f"{path}:{2 * n + 2}", doc


def write_spool(items: Iterable[Replayed], path: str) -> int:
    """The replayed events as the pipeline's spool (LogEvent records); returns how many."""
    n = 0
    with open(path, "wb") as f:
        for item in items:
            for ev in item.events:
                f.write(orjson.dumps(ev.to_record()) + b"\n")
                n += 1
    return n


def write_failures(items: Iterable[Replayed], path: str) -> int:
    """What still fails, one JSON line each with both reasons; returns how many."""
    n = 0
    with open(path, "wb") as f:
        for item in items:
            if not item.ok:
                f.write(orjson.dumps({"origin": item.origin, "stage": item.stage, "first_error": item.reason,
                                      "error": item.error}) + b"\n")
                n += 1
    return n
