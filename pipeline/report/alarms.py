"""The alarm timeline: one lane per (function, rule), the spans of time it was in ALARM, and the
list of transitions, from the alarms index (``Alarm.to_doc()``: only transitions are indexed)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pipeline.report.fields import start_ms


def transitions(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [{"time_ms": start_ms(d), "function": d.get("faas.name", "?"), "rule": d.get("rule.name", "?"),
             "state": d.get("coldtrace.alarm.state"), "previous_state": d.get("coldtrace.alarm.previous_state"),
             "severity": d.get("coldtrace.alarm.severity"), "value": d.get("coldtrace.alarm.value"),
             "threshold": d.get("coldtrace.alarm.threshold"), "reason": d.get("message", "")} for d in docs]
    return sorted(rows, key=lambda r: (r["time_ms"], r["function"], r["rule"]))


def lanes(rows: list[dict[str, Any]], run_end_ms: int) -> list[dict[str, Any]]:
    """Spans in ALARM per (function, rule); one still open at the end of the run ends there."""
    by_lane: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_lane[(r["function"], r["rule"])].append(r)
    out = []
    for (fn, rule), items in sorted(by_lane.items()):
        spans, opened = [], None
        for r in items:
            if r["state"] == "ALARM" and opened is None:
                opened = r
            elif r["state"] != "ALARM" and opened is not None:
                spans.append({"start_ms": opened["time_ms"], "end_ms": r["time_ms"], "severity": opened["severity"]})
                opened = None
        if opened is not None:
            spans.append({"start_ms": opened["time_ms"], "end_ms": max(run_end_ms, opened["time_ms"]),
                          "severity": opened["severity"], "open": True})
        out.append({"function": fn, "rule": rule, "spans": spans,
                    "marks": [{"time_ms": r["time_ms"], "state": r["state"]} for r in items]})
    return out
