"""Stitching traces from invocations alone: keys and their union, spans per the OpenTelemetry
FaaS conventions, parent links from explicit ids and from order, deterministic W3C ids, the
trace-level facts, and the gap-bounded stitcher for streams."""

from __future__ import annotations

import re

import pytest

from pipeline.model import Invocation
from pipeline.stitch import KeyUnion, group_by_keys, stitch, trace_keys, trace_spans
from pipeline.stitch.facts import trace_facts
from pipeline.stitch.gap import GapStitcher
from pipeline.stitch.spans import hex_id, order_members

T0 = 1714557600000
X1 = "1-663212a0-a034d9eb42d9b30724dfa411"
X2 = "1-663212a1-b39a045a174b129b81885dfb"


def inv(fn: str, rid: str, start: int, dur: int = 100, *, xray: str | None = None, corr: str | None = None,
        parent: str | None = None, outcome: str = "success", cold: str = "none", init: float | None = None,
        **kw) -> Invocation:
    return Invocation(function_name=fn, request_id=rid, log_group=f"/aws/lambda/{fn}",
                      log_stream=f"2024/05/01/[$LATEST]{rid}", function_version="$LATEST",
                      account="123456789012", region="eu-west-1", start_ms=T0 + start, end_ms=T0 + start + dur,
                      duration_ms=float(dur), memory_size_mb=128, cold_start_kind=cold, init_duration_ms=init,
                      outcome=outcome, xray_trace_id=xray, correlation_ids=[corr] if corr else [],
                      parent_request_id=parent, **kw)


def chain() -> list[Invocation]:
    """api → orders (sync, explicit parent) → SQS → payments (new X-Ray id) → notifications."""
    return [inv("api", "r-api", 0, 500, xray=X1, corr="c-1"),
            inv("orders", "r-orders", 20, 200, xray=X1, corr="c-1", parent="r-api"),
            inv("payments", "r-pay", 400, 300, xray=X2, corr="c-1", cold="on-demand", init=250.0),
            inv("notifications", "r-notify", 450, 100, xray=X2, parent="r-pay")]


def by_rid(spans):
    return {s.request_id: s for s in spans if s.kind != "INTERNAL"}


def test_keys_are_xray_first_then_correlation_ids():
    assert trace_keys(inv("a", "r", 0, xray=X1, corr="c")) == (f"x:{X1}", "c:c")
    assert trace_keys(inv("a", "r", 0)) == ()


def test_union_joins_components_and_names_them_by_their_smallest_key():
    u = KeyUnion()
    u.union(["x:b", "c:1"])
    u.union(["x:a"])
    u.union(["x:c", "c:1"])
    roots = u.roots()
    assert roots["x:b"] == roots["x:c"] == roots["c:1"] == "c:1"
    assert roots["x:a"] == "x:a"


def test_a_trace_cut_at_a_queue_is_whole_again_and_untraced_invocations_are_left_out():
    members = chain()
    groups = group_by_keys([*members, inv("other", "r-x", 0, xray="1-663212a2-000000000000000000000001"),
                            inv("untraced", "r-u", 0)])
    sizes = sorted(len(g) for g in groups)
    assert sizes == [1, 4]


def test_notifications_joins_through_its_xray_id_although_it_logs_no_correlation_id():
    (spans,) = stitch(chain())
    assert set(by_rid(spans)) == {"r-api", "r-orders", "r-pay", "r-notify"}


def test_parents_come_from_explicit_ids_and_across_the_queue_from_order():
    (spans,) = stitch(reversed(chain()))  # input order does not matter
    s = by_rid(spans)
    assert s["r-api"].parent_span_id is None and s["r-api"].kind == "SERVER"
    assert s["r-orders"].parent_span_id == s["r-api"].span_id and s["r-orders"].kind == "SERVER"
    assert s["r-pay"].parent_span_id == s["r-orders"].span_id and s["r-pay"].kind == "CONSUMER"
    assert s["r-pay"].attributes["faas.trigger"] == "pubsub"
    assert s["r-notify"].parent_span_id == s["r-pay"].span_id and s["r-notify"].kind == "SERVER"


def test_without_explicit_parents_a_running_member_of_the_same_xray_trace_is_the_caller():
    members = [inv("a", "r-a", 0, 1000, xray=X1), inv("b", "r-b", 100, 100, xray=X1),
               inv("c", "r-c", 300, 100, xray=X1)]  # a calls b, then c: b had ended when c started
    s = by_rid(trace_spans(members))
    assert s["r-b"].parent_span_id == s["r-a"].span_id
    assert s["r-c"].parent_span_id == s["r-a"].span_id and s["r-c"].kind == "SERVER"


def test_a_callee_starting_in_its_callers_millisecond_still_sorts_after_it():
    members = [inv("z-caller", "r-z", 0, 100, xray=X1), inv("a-callee", "r-a", 0, 50, xray=X1, parent="r-z")]
    assert [m.request_id for m in order_members(members)] == ["r-z", "r-a"]
    s = by_rid(trace_spans(members))
    assert s["r-a"].parent_span_id == s["r-z"].span_id and s["r-z"].parent_span_id is None


def test_explicit_parent_cycles_cannot_break_the_tree():
    members = [inv("a", "r-a", 0, xray=X1, parent="r-b"), inv("b", "r-b", 0, xray=X1, parent="r-a")]
    spans = trace_spans(members)
    roots = [s for s in spans if s.parent_span_id is None]
    assert len(roots) == 1


def test_ids_are_w3c_valid_deterministic_and_the_trace_id_is_the_roots_xray_id():
    first, again = stitch(chain())[0], stitch(list(reversed(chain())))[0]
    assert [(s.trace_id, s.span_id, s.parent_span_id) for s in first] == \
           [(s.trace_id, s.span_id, s.parent_span_id) for s in again]
    assert first[0].trace_id == "663212a0a034d9eb42d9b30724dfa411"
    for s in first:
        assert re.fullmatch(r"[0-9a-f]{32}", s.trace_id) and s.trace_id.strip("0")
        assert re.fullmatch(r"[0-9a-f]{16}", s.span_id) and s.span_id.strip("0")
    assert len({s.span_id for s in first}) == len(first)


def test_correlation_only_traces_hash_the_correlation_id_and_zero_ids_are_avoided():
    (spans,) = stitch([inv("a", "r-a", 0, corr="c-9"), inv("b", "r-b", 50, corr="c-9")])
    assert spans[0].trace_id == hex_id(16, "correlation", "c-9")
    (zero,) = stitch([inv("a", "r-a", 0, xray="1-00000000-000000000000000000000000")])
    assert zero[0].trace_id.strip("0")


def test_a_cold_start_gets_an_init_child_span_and_its_caller_waited_for_it():
    (spans,) = stitch(chain())
    pay = by_rid(spans)["r-pay"]
    (init,) = [s for s in spans if s.kind == "INTERNAL"]
    assert init.parent_span_id == pay.span_id and init.name == "payments init"
    assert (init.start_ms, init.end_ms) == (T0 + 400 - 250, T0 + 400)
    assert pay.start_ms == init.start_ms and pay.attributes["faas.coldstart"] is True
    assert pay.attributes["aws.lambda.duration_ms"] == 300.0


def test_init_start_from_the_logs_wins_and_provisioned_inits_are_no_span():
    snap = inv("java", "r-j", 1000, xray=X1, cold="snapstart", restore_duration_ms=400.0, init_start_ms=T0 + 500)
    prov = inv("prov", "r-p", 1000, xray=X2, cold="provisioned", init=300.0)
    spans = trace_spans([snap]) + trace_spans([prov])
    internal = [(s.name, s.start_ms, s.end_ms) for s in spans if s.kind == "INTERNAL"]
    assert internal == [("java restore", T0 + 500, T0 + 900)]


def test_faas_semantic_convention_attributes_and_status_from_the_outcome():
    (spans,) = stitch([inv("orders", "r-1", 0, xray=X1, outcome="timeout", error_type="Sandbox.Timedout")])
    a = spans[0].attributes
    assert spans[0].status == "error" and a["error.type"] == "Sandbox.Timedout"
    assert a["faas.invocation_id"] == "r-1" and a["faas.name"] == "orders" and a["faas.version"] == "$LATEST"
    assert a["faas.coldstart"] is False and a["faas.max_memory"] == 128 * 1024 * 1024
    assert a["cloud.provider"] == "aws" and a["cloud.platform"] == "aws_lambda" and a["cloud.region"] == "eu-west-1"
    assert a["cloud.resource_id"] == "arn:aws:lambda:eu-west-1:123456789012:function:orders"
    (unfinished,) = stitch([inv("o", "r-2", 0, xray=X2, outcome="unfinished")])
    assert unfinished[0].status == "unset"


def test_trace_facts_find_the_cold_start_on_the_critical_path():
    (spans,) = stitch(chain())
    f = trace_facts(spans)
    assert (f.invocations, f.functions, f.cold_starts) == (4, 4, 1)
    assert f.critical_path == ["api", "orders", "payments", "notifications"]
    assert f.critical_path_cold_start and f.weakest_link == "payments"
    assert f.duration_ms == 700  # api starts at 0, payments ends at 700
    root = spans[0].attributes
    assert root["coldtrace.trace.weakest_link"] == "payments" and root["coldtrace.trace.invocations"] == 4
    assert all("coldtrace.trace.invocations" not in s.attributes for s in spans[1:])


def test_a_cold_start_off_the_critical_path_is_not_the_weakest_link():
    members = [inv("a", "r-a", 0, 1000, xray=X1), inv("fast", "r-f", 10, 50, xray=X1, parent="r-a", cold="on-demand",
                                                        init=100.0),
               inv("slow", "r-s", 200, 700, xray=X1, parent="r-a")]
    f = trace_facts(trace_spans(members))
    assert f.critical_path == ["a", "slow"] and not f.critical_path_cold_start and f.weakest_link is None


@pytest.mark.parametrize("gap_ms", [1_000, 60_000])
def test_the_gap_stitcher_emits_what_the_batch_stitcher_builds_and_forgets_old_traces(gap_ms):
    members = []
    for n in range(50):  # 50 chains, one every 10 s
        for m in chain():
            m.request_id = f"{m.request_id}-{n}"
            m.parent_request_id = m.parent_request_id and f"{m.parent_request_id}-{n}"
            m.start_ms += n * 10_000
            m.end_ms += n * 10_000
            m.xray_trace_id = f"{m.xray_trace_id[:-4]}{n:04d}"
            m.correlation_ids = [f"{c}-{n}" for c in m.correlation_ids]
            members.append(m)
    members.sort(key=lambda m: m.start_ms)
    g = GapStitcher(gap_ms=gap_ms, retention_ms=gap_ms)
    out, peak = [], 0
    for m in members:
        g.add(m)
        out += g.advance(m.start_ms - 2_000)  # the watermark lags the newest event by 2 s
        peak = max(peak, len(g))
    out += g.close()
    def ids(traces):
        return sorted(sorted((s.span_id, s.parent_span_id, s.trace_id) for s in t) for t in traces)
    assert ids(out) == ids(stitch(members)) and len(out) == 50
    assert peak <= 2 + 2 * gap_ms // 10_000  # memory holds the last gap + retention only


def test_a_late_member_re_emits_the_trace_with_the_same_ids():
    first, late = chain()[:3], chain()[3]
    g = GapStitcher(gap_ms=1_000, retention_ms=10_000)
    for m in first:
        g.add(m)
    (early,) = g.advance(T0 + 5_000)
    g.add(late)
    (updated,) = g.advance(T0 + 6_000)
    assert g.reemitted == 1 and len(updated) == len(early) + 1
    assert {s.span_id: s.trace_id for s in early}.items() <= {s.span_id: s.trace_id for s in updated}.items()
    assert g.advance(T0 + 60_000) == [] and len(g) == 0
