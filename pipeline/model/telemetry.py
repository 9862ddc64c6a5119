"""What the pipeline derives from invocations: metric points, alarm transitions, spans."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.model.common import _put, iso_ms, stable_id

# Metric names of a MetricPoint, indexed as ``aws.lambda.metrics.<name>``.
METRIC_NAMES: tuple[str, ...] = (
    "invocations", "errors", "error_rate", "timeouts", "out_of_memory", "crashes", "throttles",
    "cold_starts", "cold_start_rate", "duration_p50_ms", "duration_p95_ms", "duration_p99_ms",
    "duration_max_ms", "init_p50_ms", "init_p95_ms", "init_p99_ms", "max_memory_utilization",
    "max_concurrency", "iterator_age_max_ms", "estimated_cost_usd", "dead_letters",
    "downstream_throttles", "completed_duration_p99_ms", "timeout_limit_ms",
    "dead_letter_errors", "async_event_age_max_ms",   # CloudWatch's DeadLetterErrors, AsyncEventAge
    "delivery_delay_ms",   # coldtrace's own: the measured delivery delay its watermark is held back by
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
    correction: int = 0   # n > 0: the n-th transition late data's corrections made for this rule

    def doc_id(self) -> str:
        # A correction may re-raise an alarm at the very minute of the first one: a new id, so
        # the second transition neither overwrites the first nor is taken for it (issue 20).
        n = getattr(self, "correction", 0)   # unset on an Alarm pickled before the field existed
        if n:
            return stable_id("alarm", self.rule, self.function_name, self.time_ms, self.state, "correction", n)
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
