"""Application JSON log lines: the JSON log format, Powertools Logger, uncaught-error objects.

Correlation ids come from a configurable list of keys or dotted paths; the defaults cover
Powertools (``correlation_id``), Express/Middy style (``x-correlation-id``, ``correlationId``).
"""

from __future__ import annotations

from functools import lru_cache
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
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


_ROLES: dict[str, str] = {}
for _role, _keys in (("level", _LEVEL_KEYS), ("request", _REQUEST_KEYS), ("message", _MESSAGE_KEYS),
                     ("xray", _XRAY_KEYS), ("parent", _PARENT_KEYS)):
    for _k in _keys:
        _ROLES[_k] = _role


@lru_cache(maxsize=64)
def _correlation_lookup(paths: tuple[str, ...]) -> tuple[dict[str, int], dict[str, list[tuple[int, str]]]]:
    """Top-level keys → priority, and first path segment → (priority, dotted path)."""
    simple: dict[str, int] = {}
    dotted: dict[str, list[tuple[int, str]]] = {}
    for i, path in enumerate(paths):
        simple.setdefault(path, i)
        if "." in path:
            dotted.setdefault(path.split(".", 1)[0], []).append((i, path))
    return simple, dotted


def _usable_id(val: Any) -> str | None:
    if isinstance(val, bool) or not isinstance(val, (str, int)):
        return None
    text = str(val)
    return text or None


def parse_app_json(obj: dict[str, Any], correlation_paths: tuple[str, ...] = CORRELATION_PATHS) -> ParsedLine:
    """Read level, request id, message, trace keys and error facts from an application JSON line.

    One pass over the object's own keys (a log object has a handful), not one lookup per
    known key name: this runs for most lines of a JSON-format function."""
    found: dict[str, str] = {}
    simple, dotted = _correlation_lookup(correlation_paths)
    corr: tuple[int, str] | None = None
    for key, val in obj.items():
        role = _ROLES.get(key)
        if role is not None and role not in found and isinstance(val, str) and val:
            found[role] = val
        rank = simple.get(key)
        if rank is not None and (corr is None or rank < corr[0]):
            usable = _usable_id(val)
            if usable is not None:
                corr = (rank, usable)
        if key in dotted and isinstance(val, dict):
            for rank, path in dotted[key]:
                if corr is None or rank < corr[0]:
                    usable = _usable_id(_path(obj, path))
                    if usable is not None:
                        corr = (rank, usable)
    out = ParsedLine.sparse(kind="log", fields=obj)
    if "level" in found:
        out.level = normalize_level(found["level"])
    if "request" in found:
        out.request_id = found["request"]
    if "message" in found:
        out.text = found["message"]
    if "xray" in found:
        out.xray_trace_id = found["xray"].split(";")[0].removeprefix("Root=")
    if "parent" in found:
        out.parent_request_id = found["parent"]
    if corr is not None:
        out.correlation_id = corr[1]
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
    else:
        msg = obj.get("message")
        if isinstance(msg, dict) and isinstance(msg.get("errorType"), str):
            # The JSON log format wraps an uncaught error: {"level":"ERROR","message":{errorType,…}}
            out.error_type = msg["errorType"]
            em = msg.get("errorMessage")
            out.error_message = em if isinstance(em, str) else None
            out.level = out.level or "ERROR"
            out.signals = ("error",)
    return out
