"""The slowest traces as waterfalls: from the traces index (spans), or, when no trace was
indexed, from invocations that share a trace id (an invocation is a span, a cold start's init a
sibling span just before it, parents linked through ``aws.lambda.parent_request_id``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from pipeline.report.fields import end_ms, init_wait_ms, iso_to_ms, start_ms

SLOWEST = 8
MAX_SPANS = 60
_INIT_NAME = re.compile(r"\b(init|restore)", re.I)


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


def _slowest(groups: dict[str, list[dict[str, Any]]], n: int) -> list[dict[str, Any]]:
    """The longest traces of more than one span (a waterfall of one bar says little), then the
    longest of one span when too few have more."""
    def rank(kv: tuple[str, list[dict[str, Any]]]) -> tuple[bool, int, str]:
        spans = kv[1]
        return len(spans) < 2, -(max(s["end"] for s in spans) - min(s["start"] for s in spans)), kv[0]

    spans_of = sorted(groups.items(), key=rank)
    return [_waterfall(tid, spans) for tid, spans in spans_of[:n]]


def from_spans(docs: list[dict[str, Any]], n: int = SLOWEST) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in docs:
        name = d.get("span.name", "")
        is_init = bool(_INIT_NAME.search(name))
        start = iso_to_ms(d["event.start"]) if "event.start" in d else start_ms(d)
        end = iso_to_ms(d["event.end"]) if "event.end" in d else start + int(d.get("span.duration_ms") or 0)
        groups[d["trace.id"]].append({
            "id": d.get("span.id"), "parent": d.get("parent.id"), "name": name,
            "function": d.get("faas.name"), "start": start, "end": end,
            "cold": bool(d.get("faas.coldstart")) or is_init, "init": is_init,
            "status": d.get("span.status", "unset")})
    return _slowest(groups, n)


def from_invocations(docs: list[dict[str, Any]], n: int = SLOWEST) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in docs:
        tid = d.get("trace.id")
        if not tid:
            continue
        s, e, rid = start_ms(d), end_ms(d), d.get("faas.execution")
        outcome = d.get("aws.lambda.outcome")
        status = "ok" if outcome == "success" else ("unset" if outcome == "unfinished" else "error")
        groups[tid].append({"id": rid, "parent": d.get("aws.lambda.parent_request_id"),
                            "name": d.get("faas.name", "?"), "function": d.get("faas.name"),
                            "start": s, "end": e, "cold": bool(d.get("faas.coldstart")), "init": False,
                            "status": status})
        wait = init_wait_ms(d)
        if wait:
            kind = "restore" if d.get("aws.lambda.cold_start_kind") == "snapstart" else "init"
            groups[tid].append({"id": f"{rid}/{kind}", "parent": d.get("aws.lambda.parent_request_id"), "name": f"{d.get('faas.name', '?')} {kind}",
                                "function": d.get("faas.name"), "start": s - int(round(wait)), "end": s,
                                "cold": True, "init": True, "status": "ok"})
    return _slowest(groups, n)
