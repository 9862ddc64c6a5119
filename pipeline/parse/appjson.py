"""Application JSON log lines: the JSON log format, Powertools Logger, uncaught-error objects.

Correlation ids come from a configurable list of keys or dotted paths; the defaults cover
Powertools (``correlation_id``), Express/Middy style (``x-correlation-id``, ``correlationId``).
"""

from __future__ import annotations

from typing import Any

from pipeline.model import ParsedLine

CORRELATION_PATHS: tuple[str, ...] = (
    "correlation_id", "correlationId", "x-correlation-id", "x_correlation_id",
    "headers.x-correlation-id", "context.correlation_id",
)
_LEVEL_KEYS = ("level", "levelname", "log.level", "severity", "log_level")
_REQUEST_KEYS = ("requestId", "function_request_id", "AWSRequestId", "aws_request_id", "request_id")
_MESSAGE_KEYS = ("message", "msg", "errorMessage")
_XRAY_KEYS = ("xray_trace_id", "_X_AMZN_TRACE_ID", "xrayTraceId", "traceId")
_PARENT_KEYS = ("parent_request_id", "parentRequestId", "caller_request_id")


def normalize_level(level: str) -> str:
    up = level.strip().upper()
    if up == "WARNING":
        return "WARN"
    if up == "CRITICAL":
        return "FATAL"
    return up


def _path(obj: dict[str, Any], path: str) -> Any:
    if path in obj:
        return obj[path]
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _first_str(obj: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        val = obj.get(key)
        if isinstance(val, str) and val:
            return val
    return None


def parse_app_json(obj: dict[str, Any], correlation_paths: tuple[str, ...] = CORRELATION_PATHS) -> ParsedLine:
    """Read level, request id, message, trace keys and error facts from an application JSON line."""
    out = ParsedLine(kind="log", fields=obj)
    level = _first_str(obj, _LEVEL_KEYS)
    if level:
        out.level = normalize_level(level)
    out.request_id = _first_str(obj, _REQUEST_KEYS)
    msg = _first_str(obj, _MESSAGE_KEYS)
    out.text = msg
    xray = _first_str(obj, _XRAY_KEYS)
    if xray:
        out.xray_trace_id = xray.split(";")[0].removeprefix("Root=")
    for path in correlation_paths:
        val = _path(obj, path)
        if isinstance(val, (str, int)) and not isinstance(val, bool) and str(val):
            out.correlation_id = str(val)
            break
    out.parent_request_id = _first_str(obj, _PARENT_KEYS)
    cold = obj.get("cold_start")
    if isinstance(cold, bool):
        out.cold_start = cold
    error_type = obj.get("errorType")
    if isinstance(error_type, str) and ("errorMessage" in obj or "stackTrace" in obj):
        out.error_type = error_type
        em = obj.get("errorMessage")
        out.error_message = em if isinstance(em, str) else None
        out.level = out.level or "ERROR"
        out.signals = ("error",)
    return out
