"""Runtime application-log prefixes of the managed runtimes' text format.

Python: ``[LEVEL]\\t<iso time>\\t<request id>\\t<message>`` (empty id in the init phase); an
uncaught error is ``[ERROR] KeyError: 'amount'\\nTraceback …`` with no request id on the line.
Node.js and .NET: ``<iso time>\\t<request id>\\t<LEVEL>\\t<message>`` (.NET writes ``info``,
``warn``, ``fail``…; Node writes the literal ``undefined`` as the id in the init phase); an
uncaught error is ``… ERROR\\tInvoke Error \\t{"errorType":…}`` or, in the init phase,
``… undefined\\tERROR\\tUncaught Exception \\t{…}``.

Copies of these lines often arrive with the tabs turned into single spaces (console copy,
``aws logs tail``, shippers) or expanded to 8-column stops (``sam local``): each prefix is read
with tabs first, then with any run of spaces where a tab was, as long as the request id has the
shape of one (an empty id cannot be told from a missing one once the tabs are gone).

Other runtimes write free text, but some put the request id in a known place: Java's Lambda
log4j2 appender (``<date> <time> <request id> <LEVEL> …``, or the id first), Ruby's Logger
(``I, [<time> #<pid>]  INFO <request id> -- : …``), PowerShell (``[Information] - …``).
Anything else gets a level word near the start, and its request id is left to the fold (an
execution environment runs one request at a time).
"""

from __future__ import annotations

import re

import orjson

from pipeline.model import ParsedLine
from pipeline.parse.appjson import LEVEL_SYNONYMS, normalize_level

_ID = r"[0-9A-Za-z][0-9A-Za-z-]{7,63}"
# Without the tabs, only a token shaped like a request id (a UUID has dashes) is taken for one.
_SPACED_ID = r"[0-9A-Za-z]{4,16}-[0-9A-Za-z-]{3,60}"
_PYTHON = re.compile(r"\[([A-Za-z]+)\]\t([^\t]*)\t([^\t\n]*)\t", re.S)
_PYTHON_SPACED = re.compile(r"\[([A-Za-z]+)\][\t ]+(\d{4}-\d\d-\d\dT[\d:.]+Z)[\t ]+(" + _SPACED_ID + r")[\t ]+")
_PYTHON_UNCAUGHT = re.compile(r"\[(ERROR|CRITICAL|FATAL)\]\s+([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Timeout)[\w.]*):?\s*([^\n]*)")
_POWERSHELL = re.compile(r"\[([A-Za-z]+)\] - ")
_NODE = re.compile(r"(\d{4}-\d\d-\d\dT[\d:.]+Z)\t([^\t\n]*)\t([A-Za-z]+)\t", re.S)
_NODE_SPACED = re.compile(r"(\d{4}-\d\d-\d\dT[\d:.]+Z)[\t ]+(" + _SPACED_ID + r"|undefined)[\t ]+([A-Za-z]+)(?:[\t ]+|$)")
_ERROR_TYPE = re.compile(r'"errorType"\s*:\s*"([^"\\]+)"')
# Java: log4j2 with the Lambda appender's %X{AWSRequestId}, after the time or first on the line.
_JAVA_DATED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d+)? (" + _SPACED_ID + r") +([A-Z]+) ")
_ID_FIRST = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) +([A-Z]+) ")
_RUBY = re.compile(r"[DIWEFAU], \[[^\]]*\] +([A-Z]+) (" + _ID + r")? ?-- ")
_LEVEL_WORD = re.compile(r"\b(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|CRITICAL|"
                         r"Trace|Debug|Information|Warn|Warning|Fatal|Critical)\b")
_LEVELS = frozenset({"TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL", *LEVEL_SYNONYMS})
_UNCAUGHT = ("Invoke Error", "Uncaught Exception", "Unhandled Promise Rejection")
NO_REQUEST = "undefined"  # Node's init phase: no request yet


def parse_python(message: str) -> ParsedLine | None:
    m = _PYTHON.match(message) or _PYTHON_SPACED.match(message)
    if m and m.group(1).upper() in _LEVELS:
        rid = m.group(3) or None
        return ParsedLine(kind="log", level=normalize_level(m.group(1)), request_id=rid,
                          text=message[m.end():])
    m = _PYTHON_UNCAUGHT.match(message)
    if m:
        return ParsedLine(kind="log", level="ERROR", text=message, error_type=m.group(2),
                          error_message=m.group(3).strip() or None, signals=("error",))
    m = _POWERSHELL.match(message)
    if m and m.group(1).upper() in _LEVELS:
        return ParsedLine(kind="log", level=normalize_level(m.group(1)), text=message[m.end():])
    return None


def parse_node(message: str) -> ParsedLine | None:
    m = _NODE.match(message) or _NODE_SPACED.match(message)
    if not m or m.group(3).upper() not in _LEVELS:
        return None
    rest = message[m.end():]
    rid = m.group(2)
    out = ParsedLine(kind="log", level=normalize_level(m.group(3)),
                     request_id=rid if rid and rid != NO_REQUEST else None, text=rest)
    if rest.startswith(_UNCAUGHT):
        et, em = _error_object(rest)
        out.error_type = et or "Error"
        out.error_message = em
        out.signals = ("error",)
    return out


def _error_object(rest: str) -> tuple[str | None, str | None]:
    """errorType and errorMessage of the JSON after an uncaught-error marker (or just the type,
    read by pattern, when the JSON was cut short)."""
    brace = rest.find("{")
    if brace < 0:
        return None, None
    try:
        obj = orjson.loads(rest[brace:])
    except orjson.JSONDecodeError:
        m = _ERROR_TYPE.search(rest, brace)
        return (m.group(1) if m else None), None
    if not isinstance(obj, dict):
        return None, None
    et, em = obj.get("errorType"), obj.get("errorMessage")
    return (et if isinstance(et, str) else None), (em if isinstance(em, str) else None)


def parse_free_text(message: str, first: str) -> ParsedLine | None:
    """The free-text formats with a request id in a known place (Java, Ruby); None otherwise.

    Each is tried only when a character test at a fixed position says it may apply."""
    if message[8:9] == "-" and message[13:14] == "-":
        m = _ID_FIRST.match(message)
    elif first.isdigit() and message[4:5] == "-" and message[10:11] == " ":
        m = _JAVA_DATED.match(message)
    elif message[1:4] == ", [":
        r = _RUBY.match(message)
        if r and r.group(1) in _LEVELS:
            return ParsedLine(kind="log", level=normalize_level(r.group(1)), request_id=r.group(2),
                              text=message[r.end():])
        return None
    else:
        return None
    if m and m.group(2) in _LEVELS:
        return ParsedLine(kind="log", level=normalize_level(m.group(2)), request_id=m.group(1), text=message[m.end():])
    return None


_UNKNOWN_APP_ERROR = "Unknown application error occurred"
_RUNTIME_TYPE = re.compile(r"\s*((?:Runtime|Function)\.[A-Za-z]+)")


def parse_unknown_error(message: str) -> ParsedLine | None:
    """``Unknown application error occurred\nRuntime.Unknown``: written after an invocation
    failed without a usable error object; the type is on the next line (or glued on, when a
    copy lost the newline)."""
    if not message.startswith(_UNKNOWN_APP_ERROR):
        return None
    m = _RUNTIME_TYPE.match(message, len(_UNKNOWN_APP_ERROR))
    return ParsedLine(kind="log", level="ERROR", text=message, error_type=m.group(1) if m else "Runtime.Unknown",
                      error_message=_UNKNOWN_APP_ERROR, signals=("error",))


def level_word(message: str) -> str | None:
    """A level word in the first 64 characters of free text (Java, Go, .NET, Ruby …)."""
    m = _LEVEL_WORD.search(message, 0, 64)
    return normalize_level(m.group(1)) if m else None
