"""Trace figures of a run, mergeable and bounded: counts from each trace's root span (its
``coldtrace.trace.*`` facts) and two top-N lists — the slowest traces by duration (the summary)
and the slowest traces of more than one span with their spans (the report's waterfalls).

A trace is added whole (``add_trace``: its Spans, or its span documents); nothing per trace is
kept beyond the top-N. Pure: no Beam.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from pipeline.model import Span
from pipeline.report.fields import iso_to_ms, start_ms

SUMMARY_SLOWEST = 5  # rows of the summary's slowest traces
WATERFALLS = 8       # waterfalls in the report (pipeline.report.traces.SLOWEST)
_INIT_NAME = re.compile(r"\b(init|restore)", re.IGNORECASE)
_FACTS = "coldtrace.trace.invocations"


def span_row(s: Span | dict[str, Any]) -> dict[str, Any]:
    """One bar of a waterfall, from a Span or its document."""
    if isinstance(s, Span):
        is_init = bool(_INIT_NAME.search(s.name))
        return {"id": s.span_id, "parent": s.parent_span_id, "name": s.name, "function": s.function_name,
                "start": int(s.start_ms), "end": int(s.end_ms),
                "cold": bool(s.attributes.get("faas.coldstart")) or is_init, "init": is_init, "status": s.status}
    name = s.get("span.name", "")
    is_init = bool(_INIT_NAME.search(name))
    start = iso_to_ms(s["event.start"]) if "event.start" in s else start_ms(s)
    end = iso_to_ms(s["event.end"]) if "event.end" in s else start + int(s.get("span.duration_ms") or 0)
    return {"id": s.get("span.id"), "parent": s.get("parent.id"), "name": name, "function": s.get("faas.name"),
            "start": start, "end": end, "cold": bool(s.get("faas.coldstart")) or is_init, "init": is_init,
            "status": s.get("span.status", "unset")}


def _root_facts(s: Span | dict[str, Any]) -> dict[str, Any] | None:
    """The summary's row of a root span (None for another span)."""
    if isinstance(s, Span):
        a, tid, fn = s.attributes, s.trace_id, s.function_name
    else:
        a, tid, fn = s, s.get("trace.id"), s.get("faas.name")
    if _FACTS not in a:
        return None
    return {"trace_id": tid, "duration_ms": a["coldtrace.trace.duration_ms"], "root": fn,
            "critical_path": a.get("coldtrace.trace.critical_path", []),
            "cold_start_on_critical_path": bool(a.get("coldtrace.trace.critical_path_cold_start")),
            "weakest_link": a.get("coldtrace.trace.weakest_link"),
            "functions": a["coldtrace.trace.functions"]}


def rank(tid: str, rows: list[dict[str, Any]]) -> list:
    """The report's order: traces of more than one span first (a waterfall of one bar says
    little), then the longest, then by id."""
    return [len(rows) < 2, -(max(r["end"] for r in rows) - min(r["start"] for r in rows)), tid]


def _trace_id(s: Span | dict[str, Any]) -> str:
    return s.trace_id if isinstance(s, Span) else s["trace.id"]


class TraceFigures:
    __slots__ = (
        "cold_on_path",
        "functions",
        "invocation_traces",
        "multi_function",
        "slowest",
        "spans",
        "traces",
        "waterfalls",
        "weakest",
    )

    def __init__(self) -> None:
        self.spans = 0
        self.traces = self.multi_function = self.functions = self.cold_on_path = 0
        self.weakest: Counter[str] = Counter()
        self.invocation_traces: dict[str, list[dict[str, Any]]] | None = None  # see keep_invocation_rows
        self.slowest: list[dict[str, Any]] = []       # by (duration, trace id), largest first
        self.waterfalls: list[list[Any]] = []        # [rank, trace id, rows], smallest rank first

    def add_trace(self, spans: Iterable[Span | dict[str, Any]]) -> None:
        spans = list(spans)
        if not spans:
            return
        self.spans += len(spans)
        for s in spans:
            facts = _root_facts(s)
            if facts is not None:
                self._add_root(facts)
        by_trace: dict[str, list] = {}
        for s in spans:
            by_trace.setdefault(_trace_id(s), []).append(s)
        for tid, members in by_trace.items():
            rows = [span_row(s) for s in members]
            self._offer_waterfall(rank(tid, rows), tid, rows)

    def _add_root(self, facts: dict[str, Any]) -> None:
        self.traces += 1
        self.functions += facts["functions"]
        if facts["functions"] > 1:
            self.multi_function += 1
        if facts["cold_start_on_critical_path"]:
            self.cold_on_path += 1
        if facts["weakest_link"]:
            self.weakest[facts["weakest_link"]] += 1
        row = {k: v for k, v in facts.items() if k != "functions"}
        self.slowest.append(row)
        if len(self.slowest) > 4 * SUMMARY_SLOWEST:
            self._trim()

    def _trim(self) -> None:
        self.slowest.sort(key=lambda r: (r["duration_ms"], r["trace_id"]), reverse=True)
        del self.slowest[SUMMARY_SLOWEST:]

    def _offer_waterfall(self, rank: list, tid: str, rows: list[dict[str, Any]]) -> None:
        if len(self.waterfalls) >= WATERFALLS and rank >= self.waterfalls[-1][0]:
            return
        self.waterfalls.append([rank, tid, rows])
        self.waterfalls.sort(key=lambda w: w[0])
        del self.waterfalls[WATERFALLS:]

    def merge(self, o: TraceFigures) -> None:
        self.spans += o.spans
        self.traces += o.traces
        self.multi_function += o.multi_function
        self.functions += o.functions
        self.cold_on_path += o.cold_on_path
        self.weakest.update(o.weakest)
        self.slowest.extend(o.slowest)
        self._trim()
        for rank, tid, rows in o.waterfalls:
            self._offer_waterfall(rank, tid, rows)

    def summary(self) -> dict[str, Any]:
        """The summary's ``traces`` section (as ``pipeline.summary`` has always written it)."""
        self._trim()
        n = self.traces
        return {"traces": n, "multi_function_traces": self.multi_function,
                "mean_functions_per_trace": round(self.functions / n, 3) if n else 0.0,
                "cold_start_on_critical_path": self.cold_on_path,
                "cold_start_on_critical_path_rate": round(self.cold_on_path / n, 4) if n else 0.0,
                "weakest_links": dict(sorted(self.weakest.items(), key=lambda kv: (-kv[1], kv[0]))),
                "slowest": [dict(r) for r in self.slowest]}

    def keep_invocation_rows(self, tid: str, rows: list[dict[str, Any]]) -> None:
        """Bars of an invocation that shares an X-Ray trace id, for a run with no traces index
        (an older run's files): kept per trace, as no span says which traces are the slowest."""
        if self.invocation_traces is None:
            self.invocation_traces = {}
        self.invocation_traces.setdefault(tid, []).extend(rows)

    def invocation_waterfalls(self) -> list[tuple[str, list[dict[str, Any]]]]:
        groups = self.invocation_traces or {}
        return sorted(groups.items(), key=lambda kv: rank(*kv))[:WATERFALLS]

    def slowest_traces(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """(trace id, span rows) of the report's waterfalls, slowest first."""
        return [(tid, [dict(r) for r in rows]) for _, tid, rows in self.waterfalls]

    def to_json(self) -> dict[str, Any]:
        self._trim()
        return {"spans": self.spans, "traces": self.traces, "multi": self.multi_function, "functions": self.functions,
                "cold": self.cold_on_path, "weakest": dict(self.weakest), "slowest": self.slowest,
                "waterfalls": self.waterfalls}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TraceFigures:
        t = cls()
        t.spans, t.traces, t.multi_function, t.functions = d["spans"], d["traces"], d["multi"], d["functions"]
        t.cold_on_path, t.weakest = d["cold"], Counter(d["weakest"])
        t.slowest = list(d["slowest"])
        t.waterfalls = [list(w) for w in d["waterfalls"]]
        return t
