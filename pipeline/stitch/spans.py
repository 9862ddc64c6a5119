"""The spans of one stitched trace, per the OpenTelemetry FaaS semantic conventions.

One span per invocation (name = function, kind SERVER, or CONSUMER when the invocation was
reached through a queue or bus), plus a child INTERNAL span for the init or SnapStart restore a
caller waited for. The invocation span then starts where that init started: it covers what the
caller waited for (``aws.lambda.duration_ms`` keeps the handler's own duration).

Parents come from explicit parent request ids where the logs carry them (Powertools
``parent_request_id``), else from order: a member joins the latest-started earlier member of
its own X-Ray trace that was still running when it started (a synchronous call); a member that
opened a new X-Ray trace, or whose callers had all ended, was reached asynchronously and joins
the latest-started earlier member (the one that sent the message) as a CONSUMER.

Ids are W3C-valid and derived from source ids, so a rebuild of the same trace (a replay, a
late member in streaming) gives the same ids: the trace id is the X-Ray id of the earliest
traced member in W3C form (what X-Ray itself maps it to), else a hash of the correlation id.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable

from pipeline.model import Invocation, Span, xray_to_w3c
from pipeline.stitch.facts import facts_attributes, trace_facts
from pipeline.stitch.keys import CORRELATION, XRAY

# How many earlier members (in start order) the order-based parent inference looks at: a
# pathological trace (one correlation id reused by thousands of requests) stays linear.
INFERENCE_WINDOW = 64


def hex_id(nbytes: int, *parts: object) -> str:
    """A deterministic id of ``nbytes`` bytes in lowercase hex, never all zero (W3C)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"),
                             digest_size=nbytes).hexdigest()
    return digest if digest.strip("0") else hex_id(nbytes, "nonzero", *parts)


def _start(inv: Invocation) -> int:
    return int(inv.start_ms if inv.start_ms is not None else (inv.end_ms or 0))


def _end(inv: Invocation) -> int:
    return max(_start(inv), int(inv.end_ms if inv.end_ms is not None else _start(inv)))


def _source(inv: Invocation) -> tuple[str, str, int]:
    return (inv.log_group or inv.function_name, inv.request_id, _start(inv))


def span_id_of(inv: Invocation) -> str:
    return hex_id(8, "span", *_source(inv))


def init_span_id_of(inv: Invocation) -> str:
    return hex_id(8, "init", *_source(inv))


def _w3c_trace_id(xray_trace_id: str) -> str:
    tid = xray_to_w3c(xray_trace_id)
    try:
        if len(tid) == 32 and int(tid, 16):
            return tid
    except ValueError:
        pass
    return hex_id(16, "xray", xray_trace_id)


def trace_id_of(ordered: list[Invocation]) -> str:
    """The trace id of members in start order (see the module docstring)."""
    for inv in ordered:
        if inv.xray_trace_id:
            return _w3c_trace_id(inv.xray_trace_id)
    corrs = [c for inv in ordered for c in inv.correlation_ids if c]
    if corrs:
        return hex_id(16, "correlation", min(corrs))
    return hex_id(16, "request", *_source(ordered[0]))


def trace_key_of(ordered: list[Invocation]) -> str:
    """The key that names the trace: its correlation id, else its first X-Ray id."""
    corrs = [c for inv in ordered for c in inv.correlation_ids if c]
    if corrs:
        return CORRELATION + min(corrs)
    for inv in ordered:
        if inv.xray_trace_id:
            return XRAY + inv.xray_trace_id
    return "r:" + ordered[0].request_id


def order_members(members: Iterable[Invocation]) -> list[Invocation]:
    """Start order; a caller sorts before a callee that started in the same millisecond."""
    members = list(members)
    index = {m.request_id: m for m in members}
    depth: dict[int, int] = {}

    def depth_of(inv: Invocation) -> int:
        chain: list[Invocation] = []
        on_chain: set[int] = set()
        cur: Invocation | None = inv
        while cur is not None and id(cur) not in depth and id(cur) not in on_chain:
            chain.append(cur)
            on_chain.add(id(cur))
            cur = index.get(cur.parent_request_id) if cur.parent_request_id else None
        base = depth[id(cur)] if cur is not None and id(cur) in depth else -1  # a cycle counts as a root
        for k, node in enumerate(reversed(chain)):
            depth[id(node)] = base + 1 + k
        return depth[id(inv)]

    return sorted(members, key=lambda m: (_start(m), depth_of(m), m.request_id))


def _by_order(ordered: list[Invocation], i: int) -> tuple[int, str]:
    inv, t = ordered[i], _start(ordered[i])
    earlier = range(max(0, i - INFERENCE_WINDOW), i)
    crossed = False
    pool = list(earlier)
    if inv.xray_trace_id:
        same = [j for j in earlier if ordered[j].xray_trace_id == inv.xray_trace_id]
        if same:
            pool = same
        else:
            crossed = True  # this member opened its own X-Ray trace: reached through a queue or bus
    if not crossed:
        running = [j for j in pool if _end(ordered[j]) >= t]
        if running:
            return running[-1], "SERVER"
    return pool[-1], "CONSUMER"


def parent_links(ordered: list[Invocation]) -> list[tuple[int | None, str]]:
    """(index of the parent member or None, span kind) for members in ``order_members`` order.

    Every link points to an earlier member, so the result is a tree rooted at the first."""
    first_index: dict[str, int] = {}
    for i, inv in enumerate(ordered):
        first_index.setdefault(inv.request_id, i)
    out: list[tuple[int | None, str]] = [(None, "SERVER")]
    for i in range(1, len(ordered)):
        inv = ordered[i]
        j = first_index.get(inv.parent_request_id) if inv.parent_request_id else None
        if j is not None and j < i:
            p = ordered[j]
            async_hop = bool(inv.xray_trace_id and p.xray_trace_id and inv.xray_trace_id != p.xray_trace_id)
            out.append((j, "CONSUMER" if async_hop else "SERVER"))
        else:
            out.append(_by_order(ordered, i))
    return out


def _status(outcome: str) -> str:
    return "ok" if outcome == "success" else ("unset" if outcome == "unfinished" else "error")


def _resource(inv: Invocation) -> dict[str, Any]:
    attrs: dict[str, Any] = {"faas.name": inv.function_name, "faas.version": inv.function_version,
                             "faas.instance": inv.log_stream or inv.instance_id,
                             "faas.max_memory": inv.memory_size_mb * 1024 * 1024 if inv.memory_size_mb else None,
                             "cloud.provider": "aws", "cloud.platform": "aws_lambda",
                             "cloud.region": inv.region, "cloud.account.id": inv.account}
    if inv.region and inv.account:
        attrs["cloud.resource_id"] = f"arn:aws:lambda:{inv.region}:{inv.account}:function:{inv.function_name}"
    return attrs


def _init_window(inv: Invocation) -> tuple[str, int, int] | None:
    """(phase, start, end) of the init or restore the caller waited for, if known."""
    if not inv.cold_start:
        return None
    restore = inv.cold_start_kind == "snapstart"
    dur = (inv.restore_duration_ms if restore else inv.init_duration_ms) or (
        inv.init_duration_ms if restore else None)
    if not dur:
        return None
    start = inv.init_start_ms if inv.init_start_ms is not None else int(_start(inv) - dur)
    return ("restore" if restore else "init"), start, int(round(start + dur))


def invocation_spans(inv: Invocation, trace_id: str, span_id: str, parent_id: str | None, kind: str,
                     trace_key: str) -> list[Span]:
    """The span of one invocation, and the span of its init or restore when it had one."""
    resource = _resource(inv)
    start, end = _start(inv), _end(inv)
    init = _init_window(inv)
    if init is not None:
        start = min(start, init[1])
    attrs = dict(resource)
    attrs.update({"faas.invocation_id": inv.request_id, "faas.coldstart": inv.cold_start,
                  "faas.trigger": "pubsub" if kind == "CONSUMER" else None,
                  "aws.lambda.cold_start_kind": inv.cold_start_kind, "aws.lambda.outcome": inv.outcome,
                  "aws.lambda.duration_ms": inv.duration_ms, "aws.lambda.init_duration_ms": inv.init_duration_ms,
                  "aws.lambda.restore_duration_ms": inv.restore_duration_ms,
                  "aws.xray.trace_id": inv.xray_trace_id,
                  "labels.correlation_id": inv.correlation_ids[0] if inv.correlation_ids else None,
                  "error.type": (inv.error_type or inv.outcome) if _status(inv.outcome) == "error" else None})
    spans = [Span(trace_id=trace_id, span_id=span_id, name=inv.function_name, start_ms=start, end_ms=end,
                  parent_span_id=parent_id, kind=kind, status=_status(inv.outcome),
                  function_name=inv.function_name, request_id=inv.request_id, trace_key=trace_key,
                  attributes={k: v for k, v in attrs.items() if v is not None})]
    if init is not None:
        phase, i_start, i_end = init
        i_attrs = {k: v for k, v in resource.items() if v is not None}
        i_attrs["faas.invocation_id"] = inv.request_id
        i_attrs["aws.lambda.cold_start_kind"] = inv.cold_start_kind
        spans.append(Span(trace_id=trace_id, span_id=init_span_id_of(inv), name=f"{inv.function_name} {phase}",
                          start_ms=i_start, end_ms=max(i_start, i_end), parent_span_id=span_id, kind="INTERNAL",
                          status="ok", function_name=inv.function_name, request_id=inv.request_id,
                          trace_key=trace_key, attributes=i_attrs))
    return spans


def trace_spans(members: Iterable[Invocation]) -> list[Span]:
    """All spans of one trace (the members of one component of ``group_by_keys``).

    The root span carries the trace-level facts (``coldtrace.trace.*``)."""
    ordered = order_members(members)
    if not ordered:
        return []
    trace_id, key = trace_id_of(ordered), trace_key_of(ordered)
    ids = [span_id_of(inv) for inv in ordered]
    spans: list[Span] = []
    for inv, sid, (parent, kind) in zip(ordered, ids, parent_links(ordered)):
        spans.extend(invocation_spans(inv, trace_id, sid, ids[parent] if parent is not None else None, kind, key))
    spans[0].attributes.update(facts_attributes(trace_facts(spans)))
    return spans
