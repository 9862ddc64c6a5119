"""One invocation of one function: what the stream fold builds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.model.common import _put, iso_ms, stable_id, xray_to_w3c

# Optional figures, in the document's order: (attribute, document field).
_LAMBDA_FIELDS = tuple((key, f"aws.lambda.{key}") for key in (
    "duration_ms", "billed_duration_ms", "memory_size_mb", "max_memory_used_mb", "init_duration_ms",
    "restore_duration_ms", "billed_restore_duration_ms", "estimated_cost_usd", "runtime_version"))


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
        if self.function_version is not None:
            doc["faas.version"] = self.function_version
        if self.instance_id is not None:
            doc["faas.instance"] = self.instance_id
        if self.region is not None:
            doc["cloud.region"] = self.region
        if self.account is not None:
            doc["cloud.account.id"] = self.account
        if self.end_ms is not None:
            doc["event.end"] = iso_ms(self.end_ms)
        for key, name in _LAMBDA_FIELDS:
            value = getattr(self, key)
            if value is not None:
                doc[name] = value
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
