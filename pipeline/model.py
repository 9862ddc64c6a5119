"""The vocabulary of coldtrace: one shape from parser to index.

Records are slotted dataclasses. ``to_doc()`` is the only place that knows the indexed
field names (Elastic Common Schema where ECS has a name, ``aws.lambda.*`` for the rest), and
``doc_id()`` gives a deterministic ``_id`` so a replay or a retry never duplicates a document.
Fields that are unknown stay ``None`` and are left out of the document: never invented.
"""

from __future__ import annotations

import hashlib
import time
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Any

import orjson

INDEX_LOGS = "coldtrace-logs"
INDEX_INVOCATIONS = "coldtrace-invocations"
INDEX_TRACES = "coldtrace-traces"
INDEX_METRICS = "coldtrace-metrics"
INDEX_ALARMS = "coldtrace-alarms"
INDEX_DEADLETTER = "coldtrace-deadletter"

# The bulk operation each index is written with. Documents of most indices never change once
# made, so ``create`` (a repeat is a harmless 409). A trace's documents can: a late member
# re-emits the trace with the same ids and new facts (its root span's size and duration), so
# traces are written with ``index``, which overwrites — still idempotent, the latest wins.
REEMITTED_INDICES = frozenset({INDEX_TRACES})


def bulk_op(index: str) -> str:
    """``index`` for indices whose documents are re-emitted with new content, else ``create``."""
    return "index" if index in REEMITTED_INDICES else "create"

COLD_START_KINDS = ("none", "on-demand", "provisioned", "snapstart")
OUTCOMES = ("success", "error", "timeout", "out_of_memory", "crash", "unfinished")


@lru_cache(maxsize=8192)
def _iso_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))


MAX_ISO_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last time ISO 8601 writes in 4 digits


def iso_ms(ms: int | float) -> str:
    """ISO 8601 UTC with milliseconds, the form Elasticsearch and Kibana sort on.

    Log lines come in bursts of the same second: the second's text is cached. A time outside
    1970..9999 (a skewed or hostile clock, flagged ``clock_skew`` by the parser) is clamped
    into that range rather than raising or writing a date no index accepts."""
    if type(ms) is not int:
        ms = int(ms) if -MAX_ISO_MS <= ms <= MAX_ISO_MS else (MAX_ISO_MS if ms > 0 else 0)  # NaN, ±inf
    if not 0 <= ms <= MAX_ISO_MS:
        ms = 0 if ms < 0 else MAX_ISO_MS
    return f"{_iso_second(ms // 1000)}{ms % 1000:03d}Z"


def stable_id(*parts: object) -> str:
    """A deterministic document id: the same source ids always give the same id."""
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"),
                           digest_size=16).hexdigest()


def _put(doc: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        doc[key] = value


def _sparse(cls: type, fields: dict[str, Any]) -> Any:
    obj = object.__new__(cls)
    obj.__dict__.update(fields)
    return obj


@dataclass
class PlatformRecord:
    """One parsed platform line (text format) or ``platform.*`` record (JSON format).

    ``kind`` is one of: init_start, init_report, init_runtime_done, start, end, report,
    runtime_done, restore_start, restore_report, timeout, runtime_error, extension,
    logs_dropped, telemetry_subscription.

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
        return stable_id(self.log_group, self.log_stream, self.id)

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
        doc: dict[str, Any] = {
            "@timestamp": iso_ms(self.timestamp),
            "event.dataset": "coldtrace.log",
            "event.id": self.id,
            "message": self.message.rstrip("\n"),
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


@dataclass(slots=True)
class Invocation:
    """One invocation of one function: built by the fold over one log stream's events."""

    function_name: str
    request_id: str
    log_group: str = ""
    log_stream: str = ""
    function_version: str | None = None
    instance_id: str | None = None
    account: str | None = None
    region: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    duration_ms: float | None = None
    billed_duration_ms: float | None = None
    memory_size_mb: int | None = None
    max_memory_used_mb: int | None = None
    init_duration_ms: float | None = None
    restore_duration_ms: float | None = None
    billed_restore_duration_ms: float | None = None
    init_start_ms: int | None = None
    runtime_version: str | None = None
    cold_start_kind: str = "none"
    outcome: str = "unfinished"
    error_type: str | None = None
    error_message: str | None = None
    xray_trace_id: str | None = None
    correlation_ids: list[str] = field(default_factory=list)
    parent_request_id: str | None = None
    log_count: int = 0
    log_bytes: int = 0
    estimated_cost_usd: float | None = None
    signals: list[str] = field(default_factory=list)
    anchor_event_id: str | None = None

    @property
    def cold_start(self) -> bool:
        """A user-facing cold start: the caller waited for an init or a restore."""
        return self.cold_start_kind in ("on-demand", "snapstart")

    def doc_id(self) -> str:
        """Request id plus the CloudWatch id of the event that opened it (START, else REPORT):
        an async retry reuses the request id, but never the event."""
        return stable_id(self.log_group or self.function_name, self.request_id, self.anchor_event_id)

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "@timestamp": iso_ms(self.start_ms if self.start_ms is not None else (self.end_ms or 0)),
            "event.dataset": "coldtrace.invocation",
            "event.outcome": "success" if self.outcome == "success" else (
                "unknown" if self.outcome == "unfinished" else "failure"),
            "faas.name": self.function_name,
            "faas.execution": self.request_id,
            "faas.coldstart": self.cold_start,
            "cloud.provider": "aws",
            "log.group": self.log_group,
            "log.stream": self.log_stream,
            "aws.lambda.cold_start_kind": self.cold_start_kind,
            "aws.lambda.outcome": self.outcome,
            "aws.lambda.log_count": self.log_count,
            "aws.lambda.log_bytes": self.log_bytes,
        }
        _put(doc, "faas.version", self.function_version)
        _put(doc, "faas.instance", self.instance_id)
        _put(doc, "cloud.region", self.region)
        _put(doc, "cloud.account.id", self.account)
        if self.end_ms is not None:
            doc["event.end"] = iso_ms(self.end_ms)
        for key in ("duration_ms", "billed_duration_ms", "memory_size_mb", "max_memory_used_mb",
                    "init_duration_ms", "restore_duration_ms", "billed_restore_duration_ms",
                    "estimated_cost_usd", "runtime_version"):
            _put(doc, f"aws.lambda.{key}", getattr(self, key))
        if self.memory_size_mb and self.max_memory_used_mb is not None:
            doc["aws.lambda.memory_utilization"] = round(self.max_memory_used_mb / self.memory_size_mb, 4)
        if self.outcome not in ("success", "unfinished"):
            doc["error.type"] = self.error_type or self.outcome
            _put(doc, "error.message", self.error_message)
        if self.xray_trace_id:
            doc["aws.xray.trace_id"] = self.xray_trace_id
            doc["trace.id"] = xray_to_w3c(self.xray_trace_id)
        if self.correlation_ids:
            doc["labels.correlation_id"] = self.correlation_ids[0]
            if len(self.correlation_ids) > 1:
                doc["aws.lambda.correlation_ids"] = list(self.correlation_ids)
        _put(doc, "aws.lambda.parent_request_id", self.parent_request_id)
        if self.signals:
            doc["aws.lambda.signals"] = list(self.signals)
        return doc


def xray_to_w3c(xray_trace_id: str) -> str:
    """``1-5759e988-bd862e3fe1be46a994272793`` → the 32-hex W3C trace id X-Ray maps it to."""
    parts = xray_trace_id.split("-")
    if len(parts) == 3 and len(parts[1]) == 8 and len(parts[2]) == 24:
        return (parts[1] + parts[2]).lower()
    return stable_id("xray", xray_trace_id)


@dataclass(slots=True)
class DeadLetter:
    """Input that could not be processed, kept whole with the stage and the reason."""

    raw: str
    stage: str
    error: str
    source: str | None = None
    time_ms: int | None = None

    def doc_id(self) -> str:
        return stable_id(self.stage, self.source, self.raw)

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "@timestamp": iso_ms(self.time_ms or 0),
            "event.dataset": "coldtrace.deadletter",
            "event.original": self.raw,
            "error.message": self.error,
            "coldtrace.stage": self.stage,
        }
        _put(doc, "coldtrace.source", self.source)
        return doc


# Metric names of a MetricPoint, indexed as ``aws.lambda.metrics.<name>``.
METRIC_NAMES: tuple[str, ...] = (
    "invocations", "errors", "error_rate", "timeouts", "out_of_memory", "crashes", "throttles",
    "cold_starts", "cold_start_rate", "duration_p50_ms", "duration_p95_ms", "duration_p99_ms",
    "duration_max_ms", "init_p50_ms", "init_p95_ms", "init_p99_ms", "max_memory_utilization",
    "max_concurrency", "iterator_age_max_ms", "estimated_cost_usd", "dead_letters",
    "downstream_throttles", "completed_duration_p99_ms", "timeout_limit_ms",
    "dead_letter_errors", "async_event_age_max_ms",   # CloudWatch's DeadLetterErrors, AsyncEventAge
)


@dataclass(slots=True)
class MetricPoint:
    """Figures of one function (and version) over one event-time window.

    ``source`` says where they came from: ``logs`` (computed from invocations), ``cloudwatch``
    (the GetMetricData poller: Throttles, ConcurrentExecutions, IteratorAge…), ``pipeline``
    (coldtrace's own health: its iterator age, its dead letters; function_name
    ``coldtrace-pipeline``). Unknown figures stay None.
    """

    function_name: str
    window_start_ms: int
    window_end_ms: int
    function_version: str | None = None
    source: str = "logs"
    account: str | None = None
    region: str | None = None
    values: dict[str, float | int | None] = field(default_factory=dict)

    def doc_id(self) -> str:
        return stable_id("metric", self.source, self.function_name, self.function_version, self.window_start_ms)

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "@timestamp": iso_ms(self.window_start_ms),
            "event.dataset": "coldtrace.metrics",
            "event.start": iso_ms(self.window_start_ms),
            "event.end": iso_ms(self.window_end_ms),
            "metricset.period": self.window_end_ms - self.window_start_ms,
            "coldtrace.metrics.source": self.source,
            "faas.name": self.function_name,
            "cloud.provider": "aws",
        }
        _put(doc, "faas.version", self.function_version)
        _put(doc, "cloud.region", self.region)
        _put(doc, "cloud.account.id", self.account)
        for name, value in self.values.items():
            if value is not None:
                doc[f"aws.lambda.metrics.{name}"] = value
        return doc


ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")


@dataclass(slots=True)
class Alarm:
    """A state transition of one rule for one function (only transitions are emitted)."""

    rule: str
    function_name: str
    state: str
    previous_state: str
    time_ms: int
    value: float | None = None
    threshold: float | None = None
    reason: str = ""
    severity: str = "warning"
    window_start_ms: int | None = None
    window_end_ms: int | None = None

    def doc_id(self) -> str:
        return stable_id("alarm", self.rule, self.function_name, self.time_ms, self.state)

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "@timestamp": iso_ms(self.time_ms),
            "event.dataset": "coldtrace.alarm",
            "event.kind": "alert",
            "rule.name": self.rule,
            "faas.name": self.function_name,
            "message": self.reason,
            "coldtrace.alarm.state": self.state,
            "coldtrace.alarm.previous_state": self.previous_state,
            "coldtrace.alarm.severity": self.severity,
        }
        _put(doc, "coldtrace.alarm.value", self.value)
        _put(doc, "coldtrace.alarm.threshold", self.threshold)
        if self.window_start_ms is not None:
            doc["event.start"] = iso_ms(self.window_start_ms)
        if self.window_end_ms is not None:
            doc["event.end"] = iso_ms(self.window_end_ms)
        return doc


@dataclass(slots=True)
class Span:
    """One OpenTelemetry-shaped span: an invocation, or the init/restore of a cold start.

    Ids are W3C-valid hex (trace 32, span 16 characters), derived from source ids so a rebuild
    of the same trace gives the same ids. ``attributes`` follow the OpenTelemetry FaaS semantic
    conventions (faas.invocation_id, faas.coldstart, faas.name, faas.version, cloud.*).
    """

    trace_id: str
    span_id: str
    name: str
    start_ms: int
    end_ms: int
    parent_span_id: str | None = None
    kind: str = "SERVER"
    status: str = "unset"  # "ok" | "error" | "unset"
    function_name: str | None = None
    request_id: str | None = None
    trace_key: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def doc_id(self) -> str:
        return stable_id("span", self.trace_id, self.span_id)

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "@timestamp": iso_ms(self.start_ms),
            "event.dataset": "coldtrace.span",
            "event.start": iso_ms(self.start_ms),
            "event.end": iso_ms(self.end_ms),
            "event.duration": int((self.end_ms - self.start_ms) * 1_000_000),
            "event.outcome": {"ok": "success", "error": "failure"}.get(self.status, "unknown"),
            "trace.id": self.trace_id,
            "span.id": self.span_id,
            "transaction.id": self.span_id if self.parent_span_id is None or self.kind != "INTERNAL" else self.parent_span_id,
            "span.name": self.name,
            "span.kind": self.kind,
            "span.duration_ms": self.end_ms - self.start_ms,
            "span.status": self.status,
        }
        _put(doc, "parent.id", self.parent_span_id)
        _put(doc, "faas.name", self.function_name)
        _put(doc, "faas.execution", self.request_id)
        _put(doc, "coldtrace.trace.key", self.trace_key)
        for key, value in self.attributes.items():
            if value is not None and key not in doc:
                doc[key] = value
        return doc
