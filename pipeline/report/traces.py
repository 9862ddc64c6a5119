"""The slowest traces as waterfalls: from the traces index (spans), or, when no trace was
indexed, from invocations that share a trace id (an invocation is a span, a cold start's init a
sibling span just before it, parents linked through ``aws.lambda.parent_request_id``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pipeline.report.fields import end_ms, init_wait_ms, start_ms
from pipeline.report.trace_figures import WATERFALLS as SLOWEST
from pipeline.report.trace_figures import rank, span_row

MAX_SPANS = 60


def _tree_order(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Depth-first by parent, children by start time; a span whose parent is missing is a root."""
    ids = {s["id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for s in spans:
        children[s["parent"] if s["parent"] in ids else None].append(s)
    out: list[dict[str, Any]] = []

    def walk(parent: str | None, depth: int) -> None:
        for s in sorted(children.get(parent, ()), key=lambda x: (x["start"], x["end"])):
            if len(out) >= MAX_SPANS:
                return
            s["depth"] = depth
            out.append(s)
            if s["id"] != parent:
                walk(s["id"], depth + 1)

    walk(None, 0)
    return out


def _waterfall(trace_id: str, spans: list[dict[str, Any]]) -> dict[str, Any]:
    lo = min(s["start"] for s in spans)
    hi = max(s["end"] for s in spans)
    rows = [{"name": s["name"], "function": s["function"], "offset_ms": s["start"] - lo,
             "duration_ms": s["end"] - s["start"], "depth": s["depth"], "cold": s["cold"],
             "init": s["init"], "status": s["status"]} for s in _tree_order(spans)]
    return {"trace_id": trace_id, "start_ms": lo, "duration_ms": hi - lo, "spans": len(spans),
            "cold_starts": sum(1 for s in spans if s["cold"] and not s["init"]), "rows": rows}


def _slowest(groups: dict[str, list[dict[str, Any]]], n: int) -> list[tuple[str, list[dict[str, Any]]]]:
    return sorted(groups.items(), key=lambda kv: rank(*kv))[:n]


def waterfalls(slowest: list[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """(trace id, span rows) pairs, slowest first → the report's waterfalls."""
    return [_waterfall(tid, spans) for tid, spans in slowest]


def from_spans(docs: list[dict[str, Any]], n: int = SLOWEST) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in docs:
        groups[d["trace.id"]].append(span_row(d))
    return waterfalls(_slowest(groups, n))


def invocation_rows(d: dict[str, Any]) -> list[dict[str, Any]]:
    """The bars of one traced invocation: itself, and its init or restore when it waited for one."""
    s, e, rid = start_ms(d), end_ms(d), d.get("faas.execution")
    outcome = d.get("aws.lambda.outcome")
    status = "ok" if outcome == "success" else ("unset" if outcome == "unfinished" else "error")
    rows = [{"id": rid, "parent": d.get("aws.lambda.parent_request_id"), "name": d.get("faas.name", "?"),
             "function": d.get("faas.name"), "start": s, "end": e, "cold": bool(d.get("faas.coldstart")),
             "init": False, "status": status}]
    wait = init_wait_ms(d)
    if wait:
        kind = "restore" if d.get("aws.lambda.cold_start_kind") == "snapstart" else "init"
        rows.append({"id": f"{rid}/{kind}", "parent": d.get("aws.lambda.parent_request_id"),
                     "name": f"{d.get('faas.name', '?')} {kind}", "function": d.get("faas.name"),
                     "start": s - int(round(wait)), "end": s, "cold": True, "init": True, "status": "ok"})
    return rows


def from_invocations(docs: list[dict[str, Any]], n: int = SLOWEST) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in docs:
        if d.get("trace.id"):
            groups[d["trace.id"]].extend(invocation_rows(d))
    return waterfalls(_slowest(groups, n))
