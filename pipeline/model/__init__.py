"""The vocabulary of coldtrace: one shape from parser to index.

Records are slotted dataclasses. ``to_doc()`` is the only place that knows the indexed
field names (Elastic Common Schema where ECS has a name, ``aws.lambda.*`` for the rest), and
``doc_id()`` gives a deterministic ``_id`` so a replay or a retry never duplicates a document.
Fields that are unknown stay ``None`` and are left out of the document: never invented.

The records live in small modules by concern (``logs``, ``invocation``, ``telemetry``,
``deadletter``, ``common``); import them from here.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Name → the module that defines it. Loaded on first use (PEP 562): the forwarder needs only
# LogEvent and its parse records, and its cold start should not pay for the rest.
_HOME: dict[str, str] = {}
for _module, _names in (
    ("common", ("COLD_START_KINDS", "INDEX_ALARMS", "INDEX_DEADLETTER", "INDEX_INVOCATIONS", "INDEX_LOGS",
                "INDEX_METRICS", "INDEX_TRACES", "MAX_ISO_MS", "OUTCOMES", "REEMITTED_INDICES", "bulk_op",
                "iso_ms", "stable_id", "xray_to_w3c")),
    ("deadletter", ("DeadLetter",)),
    ("invocation", ("Invocation",)),
    ("logs", ("LogEvent", "ParsedLine", "PlatformRecord", "pack_events", "stream_key", "unpack_events")),
    ("telemetry", ("ALARM_STATES", "METRIC_NAMES", "Alarm", "MetricPoint", "Span")),
):
    for _name in _names:
        _HOME[_name] = f"pipeline.model.{_module}"


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'pipeline.model' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_HOME))


if TYPE_CHECKING:  # for type checkers and readers: the same names, imported eagerly
    from pipeline.model.common import (  # noqa: F401
        COLD_START_KINDS,
        INDEX_ALARMS,
        INDEX_DEADLETTER,
        INDEX_INVOCATIONS,
        INDEX_LOGS,
        INDEX_METRICS,
        INDEX_TRACES,
        MAX_ISO_MS,
        OUTCOMES,
        REEMITTED_INDICES,
        bulk_op,
        iso_ms,
        stable_id,
        xray_to_w3c,
    )
    from pipeline.model.deadletter import DeadLetter  # noqa: F401
    from pipeline.model.invocation import Invocation  # noqa: F401
    from pipeline.model.logs import (  # noqa: F401
        LogEvent,
        ParsedLine,
        PlatformRecord,
        pack_events,
        stream_key,
        unpack_events,
    )
    from pipeline.model.telemetry import ALARM_STATES, METRIC_NAMES, Alarm, MetricPoint, Span  # noqa: F401

__all__ = [
    "COLD_START_KINDS", "INDEX_ALARMS", "INDEX_DEADLETTER", "INDEX_INVOCATIONS", "INDEX_LOGS", "INDEX_METRICS",
    "INDEX_TRACES", "MAX_ISO_MS", "OUTCOMES", "REEMITTED_INDICES", "bulk_op", "iso_ms", "stable_id", "xray_to_w3c",
    "DeadLetter", "Invocation", "LogEvent", "ParsedLine", "PlatformRecord", "pack_events", "stream_key",
    "unpack_events", "ALARM_STATES", "METRIC_NAMES", "Alarm", "MetricPoint", "Span",
]
