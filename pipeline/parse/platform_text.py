"""Lambda's text-format platform lines: START, END, REPORT, INIT_*, RESTORE_*, timeouts, exits.

REPORT fields are tab-separated in practice, but shippers and copy-pastes turn tabs into
spaces, and fields come and go (Init Duration, Restore Duration, Status, Error Type, no Billed
Duration on Lambda Managed Instances). So fields are found by name, in any order, never by
position.
"""

from __future__ import annotations

import re

from pipeline.model import PlatformRecord

# Longest names first: "Billed Restore Duration" must win over "Restore Duration" and "Duration".
_FIELD = re.compile(
    r"(Billed Restore Duration|Restore Duration|Billed Duration|Init Duration|Max Memory Used|"
    r"Memory Size|Duration|Status|Error Type|RequestId|TraceId|SegmentId|Sampled|Phase|"
    r"Runtime Version ARN|Runtime Version|Version): ([^\s]+)"
)
_UUIDISH = r"[0-9A-Za-z][0-9A-Za-z-]{7,63}"
# "<time> <request id> Task timed out after 3.00 seconds": found by the phrase, then the id just
# before it and the number just after, each read from a bounded window. (A regex searching for the
# whole shape backtracked quadratically over a long token: 0.4 s for an 8 KB line.)
_TIMEOUT_PHRASE = "Task timed out after"
_TIMEOUT_ID = re.compile(r"(" + _UUIDISH + r")\s+$")
_TIMEOUT_AFTER = re.compile(r"\s+([\d.]+)\s+seconds")
_RUNTIME_ERROR = re.compile(r"RequestId:\s+(" + _UUIDISH + r")\s+Error:\s+([^\n]*)(?:\n\s*(\S+))?")
# "… exec format error Extension.LaunchError": the type that ends a line whose newline was lost.
_TRAILING_TYPE = re.compile(r"\s((?:Runtime|Extension|Sandbox|Function)\.[A-Za-z]+)\s*$")
# EXTENSION / TELEMETRY / LOGS lines: the keys are found, the values are what lies between them,
# so tabs, single spaces and runs of spaces all read the same ("Name: x State: Ready Events: [...]").
_EXTENSION_KEY = re.compile(r"(?:^|(?<=\s))(Name|State|Events|Types|Error Type):[ \t]*")

# Text name → (record attribute, converter)
_FLOAT = float


def _int(v: str) -> int:
    return int(float(v))


def _bool(v: str) -> bool:
    return v.lower() in ("true", "1", "yes")


_REPORT_FIELDS: dict[str, tuple[str, object]] = {
    "RequestId": ("request_id", str),
    "Duration": ("duration_ms", _FLOAT),
    "Billed Duration": ("billed_duration_ms", _FLOAT),
    "Memory Size": ("memory_size_mb", _int),
    "Max Memory Used": ("max_memory_used_mb", _int),
    "Init Duration": ("init_duration_ms", _FLOAT),
    "Restore Duration": ("restore_duration_ms", _FLOAT),
    "Billed Restore Duration": ("billed_restore_duration_ms", _FLOAT),
    "Status": ("status", str),
    "Error Type": ("error_type", str),
    "TraceId": ("xray_trace_id", str),
    "SegmentId": ("segment_id", str),
    "Sampled": ("sampled", _bool),
    "Phase": ("phase", str),
    "Runtime Version": ("runtime_version", str),
    "Runtime Version ARN": ("runtime_version_arn", str),
    "Version": ("version", str),
}

# Prefix → record kind, for lines whose first word names them.
PREFIXES: tuple[tuple[str, str], ...] = (
    ("REPORT ", "report"),
    ("START ", "start"),
    ("END ", "end"),
    ("INIT_START", "init_start"),
    ("INIT_REPORT", "init_report"),
    ("RESTORE_START", "restore_start"),
    ("RESTORE_REPORT", "restore_report"),
    ("EXTENSION", "extension"),
    ("TELEMETRY", "telemetry_subscription"),
    ("LOGS", "logs_subscription"),
)
_SUBSCRIPTION_KINDS = frozenset({"extension", "telemetry_subscription", "logs_subscription"})


def _fill(rec: PlatformRecord, text: str) -> PlatformRecord:
    for name, value in _FIELD.findall(text):
        attr, conv = _REPORT_FIELDS[name]
        try:
            setattr(rec, attr, conv(value))  # type: ignore[operator]
        except (ValueError, OverflowError):  # "nan", "inf" MB: int() of them raises either
            continue  # a garbled number stays unknown rather than invented
    return rec


# The order Lambda writes REPORT fields in. Matching it in one regex is the fast path; a line
# in any other order (or with a field this pattern does not know) takes the by-name path.
_REPORT_CANONICAL = re.compile(
    r"REPORT RequestId: (\S+)[\t ]+Duration: ([\d.]+) ms[\t ]+"
    r"(?:Billed Duration: ([\d.]+) ms[\t ]+)?"
    r"Memory Size: (\d+) MB[\t ]+Max Memory Used: (\d+) MB[\t ]*"
    r"(?:Init Duration: ([\d.]+) ms[\t ]*)?"
    r"(?:Restore Duration: ([\d.]+) ms[\t ]*)?"
    r"(?:Billed Restore Duration: ([\d.]+) ms[\t ]*)?"
    r"(?:Status: (\S+)[\t ]*)?(?:Error Type: (\S+)[\t ]*)?"
    r"(?:\s*XRAY TraceId: (\S+)[\t ]+SegmentId: (\S+)[\t ]+Sampled: (\S+))?\s*", re.ASCII)
_new = object.__new__


def report_fast(message: str, _match=_REPORT_CANONICAL.match, _new=_new, _cls=PlatformRecord,
                _float=float, _int=int) -> PlatformRecord | None:
    """The canonical-order REPORT line in one regex match; None sends it to the by-name path."""
    m = _match(message)
    if m is None or m.end() != len(message):
        return None
    rid, dur, billed, mem, used, init, restore, brestore, status, etype, xray, seg, sampled = m.groups()
    rec = _new(_cls)
    d = rec.__dict__
    try:
        d["duration_ms"] = _float(dur)
        if billed:
            d["billed_duration_ms"] = _float(billed)
        if init:
            d["init_duration_ms"] = _float(init)
        if restore:
            d["restore_duration_ms"] = _float(restore)
        if brestore:
            d["billed_restore_duration_ms"] = _float(brestore)
    except ValueError:  # "1.2.3 ms": let the by-name path keep what it can
        return None
    d["kind"] = "report"
    d["request_id"] = rid
    d["memory_size_mb"] = _int(mem)
    d["max_memory_used_mb"] = _int(used)
    if status:
        d["status"] = status
    if etype:
        d["error_type"] = etype
    if xray:
        d["xray_trace_id"] = xray
        d["segment_id"] = seg
        d["sampled"] = sampled.lower() in ("true", "1", "yes")
    return rec


# START and END as Lambda writes them, read in one match to what ``_fill`` would make of them
# (its fields are found by name, each value a run of non-space: the same tokens).
_START = re.compile(r"START RequestId: (\S+) Version: (\S+)\s*")
_END = re.compile(r"END RequestId: (\S+)\s*")


def parse_platform_text(message: str) -> PlatformRecord | None:
    """Parse a text platform line, or return None when the line is not one."""
    if message.startswith("REPORT RequestId: "):
        rec = report_fast(message)
        if rec is not None:
            return rec
    elif message.startswith("START RequestId: "):
        m = _START.fullmatch(message)
        if m is not None:  # sparse, as report_fast builds it: a quarter of __init__'s cost
            rec = _new(PlatformRecord)
            rec.__dict__.update(kind="start", request_id=m.group(1), version=m.group(2))
            return rec
    elif message.startswith("END RequestId: "):
        m = _END.fullmatch(message)
        if m is not None:
            rec = _new(PlatformRecord)
            rec.__dict__.update(kind="end", request_id=m.group(1))
            return rec
    for prefix, kind in PREFIXES:
        if message.startswith(prefix):
            break
    else:
        return parse_error_lines(message)
    if kind in _SUBSCRIPTION_KINDS:
        return _parse_extension(kind, message, len(prefix))
    if kind in ("report", "start", "end") and "RequestId:" not in message[:24]:
        return None
    return _fill(PlatformRecord(kind=kind), message)


def _parse_extension(kind: str, message: str, skip: int) -> PlatformRecord | None:
    keys = list(_EXTENSION_KEY.finditer(message, 0, 4096))
    if not keys or keys[0].group(1) != "Name" or message[skip:keys[0].start()].strip():
        return None  # "EXTENSIONS are …", "LOGS of …": a word, not a platform line
    rec = PlatformRecord(kind=kind)
    for i, m in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(message)
        value = message[m.end():end].strip()
        name = m.group(1)
        if name == "Name":
            rec.extension_name = value
        elif name == "State":
            rec.extension_state = value
        elif name == "Error Type":
            rec.error_type = value or None
        else:
            rec.extension_events = tuple(v.strip() for v in value.strip("[]").split(",") if v.strip())
    return rec


def parse_error_lines(message: str) -> PlatformRecord | None:
    """Timeouts and runtime exits: written by the platform, but with a free-form prefix.

    What ``parse_platform_text`` makes of a line that starts with no platform prefix (a digit,
    say: "<iso time> <id> Task timed out after …"), without testing the prefixes first."""
    at = message.find(_TIMEOUT_PHRASE)
    while at >= 0:
        rid = _TIMEOUT_ID.search(message, max(0, at - 80), at)
        after = _TIMEOUT_AFTER.match(message, at + len(_TIMEOUT_PHRASE)) if rid else None
        if after:
            try:
                timeout_s: float | None = float(after.group(1))
            except ValueError:  # "after 1.2.3 seconds": the timeout stands, its length is unknown
                timeout_s = None
            return PlatformRecord(kind="timeout", request_id=rid.group(1), timeout_s=timeout_s,
                                  status="timeout", error_type="Sandbox.Timedout")
        at = message.find(_TIMEOUT_PHRASE, at + 1)
    if message.startswith("RequestId:") and "Error:" in message:
        m = _RUNTIME_ERROR.match(message)
        if m:
            error_type = m.group(3)
            detail = m.group(2).strip()
            if not error_type:
                t = _TRAILING_TYPE.search(detail)
                if t:
                    error_type, detail = t.group(1), detail[:t.start()].strip()
                else:
                    error_type = "Runtime.ExitError" if "Runtime exited" in detail else None
            return PlatformRecord(kind="runtime_error", request_id=m.group(1), status="error",
                                  error_type=error_type, error_message=detail)
    return None
