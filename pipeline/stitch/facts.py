"""Trace-level facts of one stitched trace: size, duration, and the weakest link.

The critical path runs from the root span down through, at each step, the child that ended
last (for a chain through a queue, that is the whole chain). A trace whose critical path holds
a cold start paid for it end to end; the weakest link is the function on that path whose init
(or restore) was the longest. The facts ride on the root span's document as
``coldtrace.trace.*`` so the run summary (and a dashboard) reads them from the traces index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.model import Span


@dataclass(slots=True)
class TraceFacts:
    invocations: int
    functions: int
    duration_ms: int
    cold_starts: int
    errors: int
    critical_path: list[str] = field(default_factory=list)
    critical_path_cold_start: bool = False
    weakest_link: str | None = None


def _init_ms(span: Span) -> float:
    a = span.attributes
    return float(a.get("aws.lambda.init_duration_ms") or a.get("aws.lambda.restore_duration_ms") or 0.0)


def critical_path(spans: list[Span]) -> list[Span]:
    """Invocation spans from the root, each step to the child that ended last."""
    calls = [s for s in spans if s.kind != "INTERNAL"]
    if not calls:
        return []
    children: dict[str, list[Span]] = {}
    for s in calls:
        if s.parent_span_id is not None:
            children.setdefault(s.parent_span_id, []).append(s)
    ids = {s.span_id for s in calls}
    cur = next((s for s in calls if s.parent_span_id not in ids), calls[0])
    path, seen = [cur], {cur.span_id}
    while children.get(cur.span_id):
        cur = max(children[cur.span_id], key=lambda s: (s.end_ms, s.start_ms, s.span_id))
        if cur.span_id in seen:
            break
        seen.add(cur.span_id)
        path.append(cur)
    return path


def trace_facts(spans: list[Span]) -> TraceFacts:
    calls = [s for s in spans if s.kind != "INTERNAL"]
    path = critical_path(spans)
    cold_on_path = [s for s in path if s.attributes.get("faas.coldstart")]
    weakest = max(cold_on_path, key=_init_ms) if cold_on_path else None
    return TraceFacts(
        invocations=len(calls),
        functions=len({s.function_name or s.name for s in calls}),
        duration_ms=(max(s.end_ms for s in spans) - min(s.start_ms for s in spans)) if spans else 0,
        cold_starts=sum(1 for s in calls if s.attributes.get("faas.coldstart")),
        errors=sum(1 for s in calls if s.status == "error"),
        critical_path=[s.function_name or s.name for s in path],
        critical_path_cold_start=bool(cold_on_path),
        weakest_link=(weakest.function_name or weakest.name) if weakest is not None else None,
    )


def facts_attributes(f: TraceFacts) -> dict[str, Any]:
    """The facts as root-span attributes (document fields ``coldtrace.trace.*``)."""
    out: dict[str, Any] = {
        "coldtrace.trace.invocations": f.invocations, "coldtrace.trace.functions": f.functions,
        "coldtrace.trace.duration_ms": f.duration_ms, "coldtrace.trace.cold_starts": f.cold_starts,
        "coldtrace.trace.errors": f.errors, "coldtrace.trace.critical_path": list(f.critical_path),
        "coldtrace.trace.critical_path_cold_start": f.critical_path_cold_start,
    }
    if f.weakest_link is not None:
        out["coldtrace.trace.weakest_link"] = f.weakest_link
    return out
