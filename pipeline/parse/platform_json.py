"""The JSON log format's ``platform.*`` records (LoggingConfig LogFormat=JSON).

Any metric may arrive as a float; Lambda Managed Instances send a ``platform.report`` with only
``durationMs``. Tracing arrives as an ``X-Amzn-Trace-Id`` header value (``Root=…;Parent=…;Sampled=1``).
"""

from __future__ import annotations

from typing import Any

from pipeline.model import PlatformRecord

KINDS: dict[str, str] = {
    "platform.initStart": "init_start",
    "platform.initRuntimeDone": "init_runtime_done",
    "platform.initReport": "init_report",
    "platform.start": "start",
    "platform.runtimeDone": "runtime_done",
    "platform.report": "report",
    "platform.restoreStart": "restore_start",
    "platform.restoreRuntimeDone": "restore_runtime_done",
    "platform.restoreReport": "restore_report",
    "platform.extension": "extension",
    "platform.telemetrySubscription": "telemetry_subscription",
    "platform.logsDropped": "logs_dropped",
}

_METRICS: tuple[tuple[str, str, type], ...] = (
    ("durationMs", "duration_ms", float),
    ("billedDurationMs", "billed_duration_ms", float),
    ("memorySizeMB", "memory_size_mb", int),
    ("maxMemoryUsedMB", "max_memory_used_mb", int),
    ("initDurationMs", "init_duration_ms", float),
    ("restoreDurationMs", "restore_duration_ms", float),
    ("billedRestoreDurationMs", "billed_restore_duration_ms", float),
    ("producedBytes", "produced_bytes", int),
)


def _num(value: Any, conv: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return conv(float(value)) if conv is int else conv(value)
    except (TypeError, ValueError, OverflowError):
        return None


def parse_xray_header(value: str) -> tuple[str | None, str | None, bool | None]:
    """``Root=1-…;Parent=…;Sampled=1`` → (trace id, parent segment id, sampled)."""
    root = parent = None
    sampled = None
    for part in value.split(";"):
        key, _, val = part.strip().partition("=")
        if key == "Root":
            root = val or None
        elif key == "Parent":
            parent = val or None
        elif key == "Sampled":
            sampled = val == "1"
    return root, parent, sampled


def parse_platform_json(obj: dict[str, Any]) -> PlatformRecord | None:
    """Parse a decoded ``{"time","type","record"}`` object; None when it is not a platform record."""
    kind = KINDS.get(obj.get("type"))  # type: ignore[arg-type]
    if kind is None:
        return None
    record = obj.get("record")
    rec = PlatformRecord(kind=kind)
    if not isinstance(record, dict):
        return rec
    rid = record.get("requestId")
    if isinstance(rid, str):
        rec.request_id = rid
    for src, attr in (("version", "version"), ("functionVersion", "version"), ("status", "status"),
                      ("errorType", "error_type"), ("runtimeVersion", "runtime_version"),
                      ("runtimeVersionArn", "runtime_version_arn"),
                      ("initializationType", "initialization_type"), ("phase", "phase"),
                      ("name", "extension_name"), ("state", "extension_state")):
        val = record.get(src)
        if isinstance(val, str):
            setattr(rec, attr, val)
    metrics = record.get("metrics")
    if isinstance(metrics, dict):
        for src, attr, conv in _METRICS:
            if src in metrics:
                setattr(rec, attr, _num(metrics[src], conv))
    if kind == "init_report" and rec.duration_ms is not None:
        rec.init_duration_ms = rec.duration_ms
    if kind == "restore_report" and rec.duration_ms is not None:
        rec.restore_duration_ms = rec.duration_ms
    tracing = record.get("tracing")
    if isinstance(tracing, dict) and isinstance(tracing.get("value"), str):
        root, parent, sampled = parse_xray_header(tracing["value"])
        rec.xray_trace_id, rec.segment_id, rec.sampled = root, parent, sampled
        if isinstance(tracing.get("spanId"), str) and rec.segment_id is None:
            rec.segment_id = tracing["spanId"]
    events = record.get("events")
    if isinstance(events, list):
        rec.extension_events = tuple(str(e) for e in events)
    if kind == "logs_dropped":
        rec.dropped_records = _num(record.get("droppedRecords"), int)
        rec.dropped_bytes = _num(record.get("droppedBytes"), int)
    return rec
