"""Runtime application-log prefixes of the managed runtimes' text format.

Python: ``[LEVEL]\\t<iso time>\\t<request id>\\t<message>``; an uncaught error is
``[ERROR] KeyError: 'amount'\\nTraceback …`` with no request id on the line.
Node.js: ``<iso time>\\t<request id>\\t<LEVEL>\\t<message>``; an uncaught error is
``… ERROR\\tInvoke Error \\t{"errorType":…}``. Other runtimes (Java, Go, .NET, Ruby, custom)
write free text: a level word near the start is picked up, the request id is left to the
fold (an execution environment runs one request at a time).
"""

from __future__ import annotations

import re

import orjson

from pipeline.model import ParsedLine
from pipeline.parse.appjson import normalize_level

_PYTHON = re.compile(r"\[([A-Za-z]+)\]\t([^\t]*)\t([^\t\n]*)\t", re.S)
_PYTHON_UNCAUGHT = re.compile(r"\[(ERROR|CRITICAL|FATAL)\]\s+([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Timeout)[\w.]*):?\s*([^\n]*)")
_NODE = re.compile(r"(\d{4}-\d\d-\d\dT[\d:.]+Z)\t([^\t\n]*)\t([A-Z]+)\t", re.S)
_LEVEL_WORD = re.compile(r"\b(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|CRITICAL)\b")
_LEVELS = frozenset({"TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL"})


def parse_python(message: str) -> ParsedLine | None:
    m = _PYTHON.match(message)
    if m:
        rid = m.group(3) or None
        return ParsedLine(kind="log", level=normalize_level(m.group(1)), request_id=rid,
                          text=message[m.end():])
    m = _PYTHON_UNCAUGHT.match(message)
    if m:
        return ParsedLine(kind="log", level="ERROR", text=message, error_type=m.group(2),
                          error_message=m.group(3).strip() or None, signals=("error",))
    return None


def parse_node(message: str) -> ParsedLine | None:
    m = _NODE.match(message)
    if not m or m.group(3) not in _LEVELS:
        return None
    rest = message[m.end():]
    out = ParsedLine(kind="log", level=normalize_level(m.group(3)), request_id=m.group(2) or None, text=rest)
    if rest.startswith("Invoke Error"):
        brace = rest.find("{")
        if brace >= 0:
            try:
                obj = orjson.loads(rest[brace:])
            except orjson.JSONDecodeError:
                obj = None
            if isinstance(obj, dict):
                et, em = obj.get("errorType"), obj.get("errorMessage")
                out.error_type = et if isinstance(et, str) else None
                out.error_message = em if isinstance(em, str) else None
        out.error_type = out.error_type or "Error"
        out.signals = ("error",)
    return out


def level_word(message: str) -> str | None:
    """A level word in the first 64 characters of free text (Java, Go, .NET, Ruby …)."""
    m = _LEVEL_WORD.search(message, 0, 64)
    return normalize_level(m.group(1)) if m else None
