"""StitchTraces on a simulated fleet: every ground-truth trace is rebuilt from the logs alone,
with the right members and parent/child edges — including chains that cross an SQS queue,
where X-Ray starts a new trace and only the correlation id carries on."""

from collections import defaultdict

import pytest

from pipeline.model import INDEX_TRACES
from pipeline.summary import summarize_out
from tests.pipeline.helpers import INDEX_INVOCATIONS, actions, docs, run_fleet


@pytest.fixture(scope="module")
def traced_run(sim_fleet, tmp_path_factory):
    fleet_dir, truth = sim_fleet
    out = run_fleet(fleet_dir, truth, tmp_path_factory.mktemp("traced"))
    spans = docs(out, INDEX_TRACES)
    by_trace = defaultdict(list)
    for d in spans:
        by_trace[d["trace.id"]].append(d)
    return out, truth, spans, by_trace


def _calls(spans):
    return [d for d in spans if d["span.kind"] != "INTERNAL"]


def test_every_ground_truth_trace_is_rebuilt_with_its_members_and_edges(traced_run):
    _, truth, spans, by_trace = traced_run
    span_of = {d["faas.execution"]: d for d in _calls(spans)}
    rid_of = {d["span.id"]: d["faas.execution"] for d in _calls(spans)}
    crossed = 0
    assert truth["traces"]
    for tr in truth["traces"]:
        members = {m["request_id"] for m in tr["members"]}
        trace_ids = {span_of[r]["trace.id"] for r in members}
        assert len(trace_ids) == 1, tr
        assert {d["faas.execution"] for d in _calls(by_trace[trace_ids.pop()])} == members, tr
        enqueuer = {m["function"]: m["request_id"] for m in tr["members"]}.get("orders-api")
        for m in tr["members"]:
            span = span_of[m["request_id"]]
            expected = m["parent_request_id"]
            if expected is None and m["function"] == "payments":  # reached through SQS: no parent id logged
                expected, crossed = enqueuer, crossed + 1
                assert span["span.kind"] == "CONSUMER" and span["faas.trigger"] == "pubsub"
            assert rid_of.get(span.get("parent.id")) == expected, m
    assert crossed > 0  # the fleet had chains across the queue
    assert any(len(t["xray_trace_ids"]) > 1 for t in truth["traces"])


def test_span_documents_have_w3c_ids_faas_attributes_and_one_root_per_trace(traced_run):
    out, truth, spans, by_trace = traced_run
    for d in spans:
        assert len(d["trace.id"]) == 32 and int(d["trace.id"], 16)
        assert len(d["span.id"]) == 16 and int(d["span.id"], 16)
        assert d["faas.invocation_id"] == d["faas.execution"] and d["cloud.provider"] == "aws"
    for trace_id, members in by_trace.items():
        roots = [d for d in members if "parent.id" not in d]
        assert len(roots) == 1 and roots[0]["transaction.id"] == roots[0]["span.id"]
        assert roots[0]["coldtrace.trace.invocations"] == len(_calls(members))
        ids = {d["span.id"] for d in members}
        assert all(d["parent.id"] in ids for d in members if "parent.id" in d)
    inits = [d for d in spans if d["span.kind"] == "INTERNAL"]
    assert inits and all(d["faas.coldstart"] for d in _calls(spans) if d["span.id"] in {i["parent.id"] for i in inits})
    assert {op for a in actions(out, INDEX_TRACES) for op in a} == {"index"}  # traces may be re-emitted: overwrite
    doc_ids = [a["index"]["_id"] for a in actions(out, INDEX_TRACES)]
    assert len(doc_ids) == len(set(doc_ids)) == len(spans)
    # the root segment's invocation documents point at the stitched trace
    inv_trace = {d["faas.execution"]: d.get("trace.id") for d in docs(out, INDEX_INVOCATIONS)}
    for trace_id, members in by_trace.items():
        root = next(d for d in members if "parent.id" not in d)
        if root.get("aws.xray.trace_id"):
            assert inv_trace[root["faas.execution"]] == trace_id


def test_summary_has_the_trace_level_facts(traced_run):
    out, truth, spans, by_trace = traced_run
    t = summarize_out(str(out))["traces"]
    assert t["traces"] == len(by_trace)
    assert t["multi_function_traces"] == sum(1 for tr in truth["traces"] if len({m["function"] for m in tr["members"]}) > 1)
    assert t["mean_functions_per_trace"] == pytest.approx(
        sum(len({d["faas.name"] for d in _calls(m)}) for m in by_trace.values()) / len(by_trace), abs=1e-3)
    cold_chains = [tr for tr in by_trace.values()
                   if any(d["faas.coldstart"] for d in _calls(tr))]
    assert 0 < t["cold_start_on_critical_path"] <= len(cold_chains)
    assert sum(t["weakest_links"].values()) == t["cold_start_on_critical_path"]
    slowest = t["slowest"]
    assert [s["duration_ms"] for s in slowest] == sorted((s["duration_ms"] for s in slowest), reverse=True)
    longest = max(r["coldtrace.trace.duration_ms"] for r in spans if "coldtrace.trace.duration_ms" in r)
    assert slowest[0]["duration_ms"] == longest
