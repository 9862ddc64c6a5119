"""The vocabulary of coldtrace: one shape from parser to index.

Records are slotted dataclasses. ``to_doc()`` is the only place that knows the indexed
field names (Elastic Common Schema where ECS has a name, ``aws.lambda.*`` for the rest), and
``doc_id()`` gives a deterministic ``_id`` so a replay or a retry never duplicates a document.
Fields that are unknown stay ``None`` and are left out of the document: never invented.

The records live in small modules by concern (``logs``, ``invocation``, ``telemetry``,
``deadletter``, ``common``); import them from here.
"""

from pipeline.model.common import (
    COLD_START_KINDS, INDEX_ALARMS, INDEX_DEADLETTER, INDEX_INVOCATIONS, INDEX_LOGS, INDEX_METRICS,
    INDEX_TRACES, MAX_ISO_MS, OUTCOMES, REEMITTED_INDICES, bulk_op, iso_ms, stable_id, xray_to_w3c,
)
from pipeline.model.deadletter import DeadLetter
from pipeline.model.invocation import Invocation
from pipeline.model.logs import (
    LogEvent, ParsedLine, PlatformRecord, pack_events, stream_key, unpack_events,
)
from pipeline.model.telemetry import ALARM_STATES, METRIC_NAMES, Alarm, MetricPoint, Span

__all__ = [
    "COLD_START_KINDS", "INDEX_ALARMS", "INDEX_DEADLETTER", "INDEX_INVOCATIONS", "INDEX_LOGS", "INDEX_METRICS",
    "INDEX_TRACES", "MAX_ISO_MS", "OUTCOMES", "REEMITTED_INDICES", "bulk_op", "iso_ms", "stable_id", "xray_to_w3c",
    "DeadLetter", "Invocation", "LogEvent", "ParsedLine", "PlatformRecord", "pack_events", "stream_key",
    "unpack_events", "ALARM_STATES", "METRIC_NAMES", "Alarm", "MetricPoint", "Span",
]
