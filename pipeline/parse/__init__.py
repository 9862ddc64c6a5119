"""The one parser of Lambda log lines, shared by the forwarder and the pipeline.

Pure: stdlib and orjson only. ``parse_message`` never raises: a line it cannot read is a plain
log line (kind ``log``). The dispatch looks at the first character so the common application
line costs one comparison before its own regex.
"""

from __future__ import annotations

import orjson

from pipeline.model import LogEvent, ParsedLine, PlatformRecord
from pipeline.parse.appjson import CORRELATION_PATHS, parse_app_json
from pipeline.parse.platform_json import parse_platform_json
from pipeline.parse.platform_text import parse_error_lines, parse_platform_text, report_fast
from pipeline.parse.plausible import clock_skewed, drop_implausible
from pipeline.parse.runtime_text import level_word, parse_free_text, parse_node, parse_python, parse_unknown_error
from pipeline.parse.signatures import signals_of

__all__ = ["parse_message", "parse_event", "parse_report", "CORRELATION_PATHS"]

_PLATFORM_FIRST = frozenset("SERITL")
_LAMBDA_WARNING = "LAMBDA_WARNING"  # the runtime's own warning (e.g. after an unhandled exception)
MAX_JSON_CHARS = 1 << 20  # larger JSON lines are indexed as text, not decoded


_new = object.__new__
_ERROR_KINDS = ("timeout", "runtime_error")


def _from_platform(rec: PlatformRecord) -> ParsedLine:
    out = _new(ParsedLine)  # sparse, as ParsedLine.sparse(kind=…, request_id=…, platform=…) builds it
    d = out.__dict__
    kind = d["kind"] = rec.kind
    d["request_id"] = rec.request_id
    d["platform"] = rec
    if drop_implausible(rec):
        d["signals"] = ("implausible_report",)  # numbers no invocation can have: kept out of metrics
    if rec.xray_trace_id:
        d["xray_trace_id"] = rec.xray_trace_id
    if rec.error_type or kind in _ERROR_KINDS:
        _error_facts(out, rec)
    return out


def _error_facts(out: ParsedLine, rec: PlatformRecord) -> None:
    out.level = "ERROR" if rec.kind in _ERROR_KINDS else None
    out.error_type, out.error_message = rec.error_type, rec.error_message
    if rec.error_type and "OutOfMemory" in rec.error_type:
        out.signals += ("oom",)
    elif rec.kind == "runtime_error":
        out.signals += ("runtime_exit",)


def _parse_json(message: str, correlation_paths: tuple[str, ...]) -> ParsedLine | None:
    if len(message) > MAX_JSON_CHARS:
        return None
    try:
        obj = orjson.loads(message)
    except orjson.JSONDecodeError:  # not JSON after all, or nested deeper than orjson allows
        return None
    if not isinstance(obj, dict):
        return None
    typ = obj.get("type")
    if isinstance(typ, str) and typ.startswith("platform."):
        rec = parse_platform_json(obj)
        if rec is not None:
            return _from_platform(rec)
    return parse_app_json(obj, correlation_paths)


def parse_message(message: str, correlation_paths: tuple[str, ...] = CORRELATION_PATHS) -> ParsedLine:
    """Classify and read one log message. Never raises."""
    first = message[:1]
    out: ParsedLine | None = None
    if first == "{":
        out = _parse_json(message, correlation_paths)
    elif first in _PLATFORM_FIRST:
        if first == "L" and message.startswith(_LAMBDA_WARNING):
            return ParsedLine(kind="log", level="WARN", text=message)
        rec = parse_platform_text(message)
        if rec is not None:
            return _from_platform(rec)
        out = parse_free_text(message, first)  # a Ruby "E, [" / "I, [" line, an id-first Java line
    elif first == "[":
        out = parse_python(message)
    elif first.isdigit():
        out = parse_node(message)
        if out is None:
            rec = parse_error_lines(message)  # "<iso> <id> Task timed out after …"
            if rec is not None:
                return _from_platform(rec)
            out = parse_free_text(message, first)
    elif first == "U":
        out = parse_unknown_error(message)
    elif first:
        out = parse_free_text(message, first)
    if out is None:
        out = ParsedLine(kind="log", level=level_word(message), text=message)
    text = out.text if out.text is not None else message
    sig = signals_of(text, out.level)
    if sig:
        out.signals = out.signals + tuple(s for s in sig if s not in out.signals)
    return out


def parse_report(message: str, _fast=report_fast) -> PlatformRecord | None:
    """Just the REPORT line, for callers that need nothing else (bench, forwarder filters)."""
    fast = _fast(message)
    if fast is not None:
        return fast
    rec = parse_platform_text(message)
    return rec if rec is not None and rec.kind == "report" else None


def parse_event(event: LogEvent, correlation_paths: tuple[str, ...] = CORRELATION_PATHS) -> LogEvent:
    """Attach the parse of the event's message; the event itself is returned for chaining."""
    parsed = event.parsed = parse_message(event.message, correlation_paths)
    if clock_skewed(event.timestamp):  # kept as sent, flagged: see pipeline.parse.plausible
        parsed.signals = parsed.signals + ("clock_skew",)
    return event
