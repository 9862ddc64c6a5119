"""The forwarder's own accounting: one EMF line per invocation, plus structured log lines.

Embedded Metric Format lines printed to stdout become CloudWatch metrics with no API call
(and no boto3). The ledger is exact: events in = shipped + filtered + sampled out + dropped by
the loop guard + failed (dead-lettered or reported in ``batchItemFailures``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any

import orjson


@dataclass
class Stats:
    payloads_in: int = 0
    control_messages: int = 0
    events_in: int = 0
    events_shipped: int = 0
    events_filtered: int = 0
    events_sampled_out: int = 0
    events_loop_dropped: int = 0
    events_failed: int = 0
    dead_letters: int = 0
    batch_item_failures: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    records_out: int = 0
    put_records_calls: int = 0
    retries: int = 0
    throttled: int = 0
    redacted: dict[str, int] = field(default_factory=dict)
    oldest_event_ms: int | None = None
    duration_ms: float = 0.0

    @property
    def unaccounted(self) -> int:
        """Events in minus every way out: 0 when the ledger balances (an alarm watches it)."""
        return self.events_in - (self.events_shipped + self.events_filtered + self.events_sampled_out
                                 + self.events_loop_dropped + self.events_failed)

    @property
    def balanced(self) -> bool:
        return self.unaccounted == 0

    def values(self, now_ms: int) -> dict[str, int | float]:
        out: dict[str, int | float] = {
            "PayloadsIn": self.payloads_in, "ControlMessages": self.control_messages,
            "EventsIn": self.events_in, "EventsShipped": self.events_shipped,
            "EventsFiltered": self.events_filtered, "EventsSampledOut": self.events_sampled_out,
            "EventsLoopDropped": self.events_loop_dropped, "EventsFailed": self.events_failed,
            "EventsUnaccounted": self.unaccounted,
            "DeadLetters": self.dead_letters, "BatchItemFailures": self.batch_item_failures,
            "BytesIn": self.bytes_in, "BytesOut": self.bytes_out, "RecordsOut": self.records_out,
            "PutRecordsCalls": self.put_records_calls, "Retries": self.retries, "Throttled": self.throttled,
            "Redactions": sum(self.redacted.values()), "HandlerDuration": round(self.duration_ms, 3),
        }
        if self.oldest_event_ms is not None:
            out["IteratorAge"] = max(0, now_ms - self.oldest_event_ms)
        return out


_UNITS = {"BytesIn": "Bytes", "BytesOut": "Bytes", "IteratorAge": "Milliseconds", "HandlerDuration": "Milliseconds"}


def emf(stats: Stats, namespace: str, function_name: str, now_ms: int | None = None) -> bytes:
    """One Embedded Metric Format line (dimension: the forwarder's function name)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    values = stats.values(now_ms)
    metrics = [{"Name": k, "Unit": _UNITS.get(k, "Count")} for k in values]
    doc: dict[str, Any] = {"_aws": {"Timestamp": now_ms, "CloudWatchMetrics": [
        {"Namespace": namespace, "Dimensions": [["FunctionName"]], "Metrics": metrics}]},
        "FunctionName": function_name, **values}
    if stats.redacted:
        doc["RedactedByPattern"] = dict(stats.redacted)  # a property, searchable in Logs Insights
    return orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)


def log(level: str, message: str, stream: IO[bytes] | None = None, **fields: Any) -> None:
    """A structured JSON log line of the forwarder itself."""
    rec = {"level": level, "logger": "coldtrace.forwarder", "message": message, **fields}
    out = stream or sys.stdout.buffer
    out.write(orjson.dumps(rec, default=str, option=orjson.OPT_APPEND_NEWLINE))
    out.flush()
