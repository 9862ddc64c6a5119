"""Index names, time and id helpers shared by every record of the model."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

INDEX_LOGS = "coldtrace-logs"
INDEX_INVOCATIONS = "coldtrace-invocations"
INDEX_TRACES = "coldtrace-traces"
INDEX_METRICS = "coldtrace-metrics"
INDEX_ALARMS = "coldtrace-alarms"
INDEX_DEADLETTER = "coldtrace-deadletter"

# The bulk operation each index is written with. Documents of most indices never change once
# made, so ``create`` (a repeat is a harmless 409). A trace's documents can: a late member
# re-emits the trace with the same ids and new facts (its root span's size and duration), so
# traces are written with ``index``, which overwrites — still idempotent, the latest wins. So are
# metric points: a streaming run re-emits a minute, corrected, when an invocation it could only
# close late (a crash, an unfinished request) lands in it (pipeline/windows.py: CORRECTION_MS).
REEMITTED_INDICES = frozenset({INDEX_TRACES, INDEX_METRICS})


def bulk_op(index: str) -> str:
    """``index`` for indices whose documents are re-emitted with new content, else ``create``."""
    return "index" if index in REEMITTED_INDICES else "create"

COLD_START_KINDS = ("none", "on-demand", "provisioned", "snapstart")
OUTCOMES = ("success", "error", "timeout", "out_of_memory", "crash", "unfinished")


@lru_cache(maxsize=8192)
def _iso_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))


MAX_ISO_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last time ISO 8601 writes in 4 digits
_MILLIS = tuple(f"{i:03d}Z" for i in range(1000))  # the text after the second, by millisecond


def iso_ms(ms: int | float) -> str:
    """ISO 8601 UTC with milliseconds, the form Elasticsearch and Kibana sort on.

    Log lines come in bursts of the same second: the second's text is cached, the milliseconds
    are looked up (half the cost of formatting them). A time outside 1970..9999 (a skewed or
    hostile clock, flagged ``clock_skew`` by the parser) is clamped into that range rather than
    raising or writing a date no index accepts."""
    if type(ms) is not int:
        ms = int(ms) if -MAX_ISO_MS <= ms <= MAX_ISO_MS else (MAX_ISO_MS if ms > 0 else 0)  # NaN, ±inf
    if not 0 <= ms <= MAX_ISO_MS:
        ms = 0 if ms < 0 else MAX_ISO_MS
    return _iso_second(ms // 1000) + _MILLIS[ms % 1000]


try:  # hashlib's BLAKE2 without hashlib's OpenSSL half: 2.4 ms off the forwarder's cold start
    from _blake2 import blake2b as _blake2b
except ImportError:  # an interpreter built without the module: the same function via hashlib
    from hashlib import blake2b as _blake2b

# Copied for each id: a copy costs less than a constructor call with its keyword argument.
_BLAKE2B_16 = _blake2b(digest_size=16)


def text_id(text: str) -> str:
    """The id of an already joined ``stable_id`` text: 16-byte BLAKE2b of its UTF-8, in hex."""
    h = _BLAKE2B_16.copy()
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def stable_id(*parts: object) -> str:
    """A deterministic document id: the same source ids always give the same id."""
    return text_id("\x1f".join(map(str, parts)))


def _put(doc: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        doc[key] = value


def _sparse(cls: type, fields: dict[str, Any]) -> Any:
    obj = object.__new__(cls)
    obj.__dict__.update(fields)
    return obj


def xray_to_w3c(xray_trace_id: str) -> str:
    """``1-5759e988-bd862e3fe1be46a994272793`` → the 32-hex W3C trace id X-Ray maps it to."""
    parts = xray_trace_id.split("-")
    if len(parts) == 3 and len(parts[1]) == 8 and len(parts[2]) == 24:
        return (parts[1] + parts[2]).lower()
    return stable_id("xray", xray_trace_id)
