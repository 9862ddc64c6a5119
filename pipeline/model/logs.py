"""LogEvent and what the parser makes of its message (ParsedLine, PlatformRecord)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.model.common import _put, _sparse, iso_ms, stable_id, text_id


@dataclass
class PlatformRecord:
    """One parsed platform line (text format) or ``platform.*`` record (JSON format).

    ``kind`` is one of: init_start, init_report, init_runtime_done, start, end, report,
    runtime_done, restore_start, restore_runtime_done, restore_report, timeout, runtime_error,
    extension, logs_dropped, telemetry_subscription, logs_subscription. A subscription's
    ``Types`` are kept in ``extension_events``.

    Not slotted, on purpose: a record sets a handful of its 30 fields, and unset ones read the
    class default (None). ``sparse`` builds one from just the fields present, about 3x faster
    than ``__init__`` with every keyword default — this runs once per log line.
    """

    @classmethod
    def sparse(cls, **fields: Any) -> "PlatformRecord":
        return _sparse(cls, fields)

    kind: str
    request_id: str | None = None
    time_ms: int | None = None
    version: str | None = None
    duration_ms: float | None = None
    billed_duration_ms: float | None = None
    memory_size_mb: int | None = None
    max_memory_used_mb: int | None = None
    init_duration_ms: float | None = None
    restore_duration_ms: float | None = None
    billed_restore_duration_ms: float | None = None
    status: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    xray_trace_id: str | None = None
    segment_id: str | None = None
    sampled: bool | None = None
    runtime_version: str | None = None
    runtime_version_arn: str | None = None
    initialization_type: str | None = None
    phase: str | None = None
    timeout_s: float | None = None
    extension_name: str | None = None
    extension_state: str | None = None
    extension_events: tuple[str, ...] | None = None
    dropped_records: int | None = None
    dropped_bytes: int | None = None
    produced_bytes: int | None = None
    # JSON format: platform.initStart (functionName, instanceId, instanceMaxMemory in bytes)
    # and platform.start (functionArn).
    function_name: str | None = None
    function_arn: str | None = None
    instance_id: str | None = None
    instance_max_memory: int | None = None


@dataclass
class ParsedLine:
    """What the parser learned from one log message.

    ``kind`` is ``"log"`` for application lines and the platform kind otherwise. ``signals``
    names what detectors care about: ``oom``, ``throttle``, ``error`` (an uncaught error
    report), ``runtime_exit``. Sparse like PlatformRecord (one per log line).
    """

    @classmethod
    def sparse(cls, **fields: Any) -> "ParsedLine":
        return _sparse(cls, fields)

    kind: str = "log"
    level: str | None = None
    request_id: str | None = None
    text: str | None = None
    platform: PlatformRecord | None = None
    error_type: str | None = None
    error_message: str | None = None
    xray_trace_id: str | None = None
    correlation_id: str | None = None
    parent_request_id: str | None = None
    cold_start: bool | None = None
    time_ms: int | None = None
    signals: tuple[str, ...] = ()
    fields: dict[str, Any] | None = None


@dataclass(slots=True)
class LogEvent:
    """One CloudWatch Logs event, enriched with where it came from.

    The forwarder ships this shape (``to_record``) and the pipeline reads it back
    (``from_record``); ``parsed`` is filled by ``pipeline.parse.parse_event``.
    """

    id: str
    timestamp: int
    message: str
    log_group: str = ""
    log_stream: str = ""
    account: str | None = None
    region: str | None = None
    function_name: str | None = None
    function_version: str | None = None
    instance_id: str | None = None
    arrival_ms: int | None = None
    parsed: ParsedLine | None = None

    def doc_id(self) -> str:
        group, stream, ident = self.log_group, self.log_stream, self.id
        if type(group) is str and type(stream) is str and type(ident) is str:  # joined as stable_id joins them
            return text_id(f"{group}\x1f{stream}\x1f{ident}")
        return stable_id(group, stream, ident)

    def to_record(self) -> dict[str, Any]:
        """The compact wire form shipped by the forwarder and stored in spools."""
        rec: dict[str, Any] = {"id": self.id, "timestamp": self.timestamp, "message": self.message,
                               "log_group": self.log_group, "log_stream": self.log_stream}
        for key in ("account", "region", "function_name", "function_version", "instance_id", "arrival_ms"):
            _put(rec, key, getattr(self, key))
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> "LogEvent":
        """Inverse of ``to_record``; raises ``ValueError`` naming the bad field."""
        try:
            ev = cls(id=str(rec["id"]), timestamp=int(rec["timestamp"]), message=rec["message"],
                     log_group=str(rec.get("log_group") or ""), log_stream=str(rec.get("log_stream") or ""),
                     account=rec.get("account"), region=rec.get("region"),
                     function_name=rec.get("function_name"), function_version=rec.get("function_version"),
                     instance_id=rec.get("instance_id"), arrival_ms=rec.get("arrival_ms"))
        except KeyError as exc:
            raise ValueError(f"log event record lacks field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"log event record has a field of the wrong type: {exc}") from None
        if not isinstance(ev.message, str):
            raise ValueError("log event record field 'message' is not a string")
        return ev

    def to_doc(self) -> dict[str, Any]:
        # Runs once per log line: plain conditionals, no helper calls.
        message = self.message
        doc: dict[str, Any] = {
            "@timestamp": iso_ms(self.timestamp),
            "event.dataset": "coldtrace.log",
            "event.id": self.id,
            "message": message.rstrip("\n") if message[-1:] == "\n" else message,
            "log.group": self.log_group,
            "log.stream": self.log_stream,
            "cloud.provider": "aws",
        }
        if self.region is not None:
            doc["cloud.region"] = self.region
        if self.account is not None:
            doc["cloud.account.id"] = self.account
        if self.function_name is not None:
            doc["faas.name"] = self.function_name
        if self.function_version is not None:
            doc["faas.version"] = self.function_version
        if self.instance_id is not None:
            doc["faas.instance"] = self.instance_id
        if self.arrival_ms is not None:
            doc["event.ingested"] = iso_ms(self.arrival_ms)
        p = self.parsed
        if p is not None:
            doc["aws.lambda.log_kind"] = p.kind
            if p.level is not None:
                doc["log.level"] = p.level
            if p.request_id is not None:
                doc["faas.execution"] = p.request_id
            if p.error_type is not None:
                doc["error.type"] = p.error_type
            if p.error_message is not None:
                doc["error.message"] = p.error_message
            if p.xray_trace_id is not None:
                doc["aws.xray.trace_id"] = p.xray_trace_id
            if p.correlation_id is not None:
                doc["labels.correlation_id"] = p.correlation_id
            if p.signals:
                doc["aws.lambda.signals"] = list(p.signals)
        return doc


def stream_key(event: LogEvent) -> str:
    """The key of an execution environment: log group and log stream."""
    return f"{event.log_group}\x1f{event.log_stream}"


def pack_events(events: list[LogEvent]) -> bytes:
    """One log stream's events as compact bytes, for shuffles (far cheaper than pickling).

    The stream's shared fields are written once; only id, timestamp, message and arrival
    time are per event. All events must share the first event's stream.
    """
    f = events[0]
    head = [f.log_group, f.log_stream, f.account, f.region, f.function_name, f.function_version, f.instance_id]
    return orjson.dumps([head, [[e.id, e.timestamp, e.message, e.arrival_ms] for e in events]])


def unpack_events(data: bytes) -> list[LogEvent]:
    """Inverse of ``pack_events`` (the parse is not carried: it is redone after the shuffle)."""
    (group, stream, account, region, fn, version, instance), rows = orjson.loads(data)
    return [LogEvent(i, ts, msg, group, stream, account, region, fn, version, instance, arrival)
            for i, ts, msg, arrival in rows]
