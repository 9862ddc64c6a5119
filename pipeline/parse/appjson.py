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
# PascalCase keys: Powertools for .NET (Level, FunctionRequestId, XrayTraceId, Message).
_LEVEL_KEYS = ("level", "levelname", "log.level", "severity", "log_level", "Level")
_REQUEST_KEYS = ("requestId", "function_request_id", "AWSRequestId", "aws_request_id", "request_id",
                 "FunctionRequestId")
_MESSAGE_KEYS = ("message", "msg", "errorMessage", "Message")
_XRAY_KEYS = ("xray_trace_id", "_X_AMZN_TRACE_ID", "xrayTraceId", "traceId", "XrayTraceId")
_PARENT_KEYS = ("parent_request_id", "parentRequestId", "caller_request_id")


# Level spellings that are not Python's → the one name each (.NET: Information and the
# Microsoft.Extensions.Logging short forms trce/dbug/info/warn/fail/crit; Lambda: LAMBDA_WARNING).
LEVEL_SYNONYMS: dict[str, str] = {
    "WARNING": "WARN", "CRITICAL": "FATAL", "INFORMATION": "INFO", "TRCE": "TRACE", "DBUG": "DEBUG",
    "FAIL": "ERROR", "CRIT": "FATAL", "VERBOSE": "TRACE", "LAMBDA_WARNING": "WARN",
}


def normalize_level(level: str, _syn=LEVEL_SYNONYMS) -> str:
    up = level.strip().upper()
    return _syn.get(up, up)


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
def _key_table(paths: tuple[str, ...]) -> dict[str, tuple[str | None, int | None, list[tuple[int, str]] | None]]:
    """Every key a line's object may hold that means something → (role, correlation priority
    as a top-level key, dotted correlation paths that start with it). One lookup per key of
    the line; the keys that mean nothing (most of them) miss at once."""
    table: dict[str, tuple[str | None, int | None, list[tuple[int, str]] | None]] = {}
    simple: dict[str, int] = {}
    dotted: dict[str, list[tuple[int, str]]] = {}
    for i, path in enumerate(paths):
        simple.setdefault(path, i)
        if "." in path:
            dotted.setdefault(path.split(".", 1)[0], []).append((i, path))
    for key in {*_ROLES, *simple, *dotted}:
        table[key] = (_ROLES.get(key), simple.get(key), dotted.get(key))
    return table


def _usable_id(val: Any) -> str | None:
    if isinstance(val, bool) or not isinstance(val, (str, int)):
        return None
    text = str(val)
    return text or None


def _scan(obj: dict[str, Any], correlation_paths: tuple[str, ...]) -> tuple[dict[str, str], str | None]:
    """The first non-empty string of each role, and the correlation id of highest priority."""
    table = _key_table(correlation_paths)
    found: dict[str, str] = {}
    corr: tuple[int, str] | None = None
    for key, val in obj.items():
        entry = table.get(key)
        if entry is None:
            continue
        role, rank, dotted = entry
        if role is not None and role not in found and isinstance(val, str) and val:
            found[role] = val
        if rank is not None and (corr is None or rank < corr[0]):
            usable = _usable_id(val)
            if usable is not None:
                corr = (rank, usable)
        if dotted is not None and isinstance(val, dict):
            for rank, path in dotted:
                if corr is None or rank < corr[0]:
                    usable = _usable_id(_path(obj, path))
                    if usable is not None:
                        corr = (rank, usable)
    return found, (corr[1] if corr is not None else None)


_new = object.__new__


def parse_app_json(obj: dict[str, Any], correlation_paths: tuple[str, ...] = CORRELATION_PATHS) -> ParsedLine:
    """Read level, request id, message, trace keys and error facts from an application JSON line.

    One pass over the object's own keys (a log object has a handful), not one lookup per
    known key name: this runs for most lines of a JSON-format function."""
    found, correlation_id = _scan(obj, correlation_paths)
    out = _new(ParsedLine)  # sparse: only the fields found are set
    d = out.__dict__
    d["kind"] = "log"
    d["fields"] = obj
    if "level" in found:
        d["level"] = normalize_level(found["level"])
    if "request" in found:
        d["request_id"] = found["request"]
    if "message" in found:
        d["text"] = found["message"]
    if "xray" in found:
        d["xray_trace_id"] = found["xray"].split(";")[0].removeprefix("Root=")
    if "parent" in found:
        d["parent_request_id"] = found["parent"]
    if correlation_id is not None:
        d["correlation_id"] = correlation_id
    cold = obj.get("cold_start")
    if isinstance(cold, bool):
        d["cold_start"] = cold
    error_type = obj.get("errorType")
    if isinstance(error_type, str) and ("errorMessage" in obj or "stackTrace" in obj):
        _set_error(out, error_type, obj.get("errorMessage"))
    else:
        msg = obj.get("message")
        if isinstance(msg, dict) and isinstance(msg.get("errorType"), str):
            # The JSON log format wraps an uncaught error: {"level":"ERROR","message":{errorType,…}}
            _set_error(out, msg["errorType"], msg.get("errorMessage"))
        elif isinstance(obj.get("exception_name"), str) and "exception" in obj:
            # Powertools for Python: logger.exception(...) adds exception and exception_name
            _set_error(out, obj["exception_name"], msg)
    return out


def _set_error(out: ParsedLine, error_type: str, error_message: Any) -> None:
    out.error_type = error_type
    out.error_message = error_message if isinstance(error_message, str) else None
    out.level = out.level or "ERROR"
    out.signals = ("error",)
