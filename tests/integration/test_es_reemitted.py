"""Re-emitted documents in Elasticsearch: the bulk operation is chosen per index.

A streaming run re-emits a trace when a late member joins it: the same span ids, and the root
span carries new facts (invocations, duration). Those must replace what is there (``index``),
while every other index keeps ``create`` (a repeat is a 409, the first version stays).
"""

from __future__ import annotations

import pytest

from pipeline.local_index import latest_docs, read_index
from pipeline.model import INDEX_INVOCATIONS, INDEX_TRACES, Invocation, bulk_op
from pipeline.sinks.es_bulk import BulkWriter
from pipeline.sinks.es_client import EsSettings, make_client, resolved
from pipeline.sinks.es_setup import setup
from pipeline.sinks.index_files import render_chunks
from pipeline.stitch.spans import trace_spans

from .es_support import count, es, refresh, reset_coldtrace

T0 = 1714557600000
XRAY = "1-663212a0-a034d9eb42d9b30724dfa411"


def inv(fn: str, rid: str, start: int, dur: int, parent: str | None = None) -> Invocation:
    return Invocation(function_name=fn, request_id=rid, log_group=f"/aws/lambda/{fn}", start_ms=T0 + start,
                      end_ms=T0 + start + dur, duration_ms=float(dur), outcome="success", xray_trace_id=XRAY,
                      parent_request_id=parent)


@pytest.fixture()
def client(es_url):
    reset_coldtrace(es_url)
    setup(resolved(EsSettings(url=es_url)))
    c = make_client(EsSettings(url=es_url, plain_json="on"))
    yield c
    c.close()


def write(client, index: str, records) -> BulkWriter:
    with BulkWriter(client, max_retries=2, initial_backoff=0.01) as writer:
        writer.add_all(index, records)
    return writer


def test_a_re_emitted_trace_replaces_its_documents_and_other_indices_keep_the_first(es_url, client):
    assert bulk_op(INDEX_TRACES) == "index" and bulk_op(INDEX_INVOCATIONS) == "create"
    members = [inv("api", "r-api", 0, 500), inv("orders", "r-orders", 20, 200, parent="r-api")]
    first = trace_spans(members)
    late = inv("notifications", "r-notify", 900, 100, parent="r-orders")
    second = trace_spans(members + [late])
    root = first[0]
    assert second[0].doc_id() == root.doc_id() and second[0].to_doc() != root.to_doc()

    w1 = write(client, INDEX_TRACES, first)
    w2 = write(client, INDEX_TRACES, second)
    assert (w1.counts.indexed, w1.counts.rejected) == (len(first), 0)
    # the spans already there are overwritten (counted as already there), the new one is created
    assert (w2.counts.indexed, w2.counts.already_indexed, w2.counts.rejected) == (1, len(first), 0)
    refresh(es_url)
    assert count(es_url, INDEX_TRACES) == len(second)
    stored = es(es_url, "GET", f"/{INDEX_TRACES}/_doc/{root.doc_id()}")["_source"]
    assert stored == second[0].to_doc() and stored["coldtrace.trace.invocations"] == 3

    original = members[0]
    changed = inv("api", "r-api", 0, 500)
    changed.duration_ms = 999.0
    assert changed.doc_id() == original.doc_id()
    write(client, INDEX_INVOCATIONS, [original])
    again = write(client, INDEX_INVOCATIONS, [changed])
    assert (again.counts.indexed, again.counts.already_indexed) == (0, 1)
    refresh(es_url)
    kept = es(es_url, "GET", f"/{INDEX_INVOCATIONS}/_doc/{original.doc_id()}")["_source"]
    assert kept["aws.lambda.duration_ms"] == 500.0


def test_local_index_files_say_which_operation_their_documents_need(tmp_path):
    members = [inv("api", "r-api", 0, 500), inv("orders", "r-orders", 20, 200, parent="r-api")]
    path = tmp_path / "traces.ndjson"
    with open(path, "w") as f:
        for spans in (trace_spans(members[:1]), trace_spans(members)):   # emitted, then re-emitted
            f.writelines(chunk + "\n" for chunk in render_chunks(INDEX_TRACES, spans))
    assert {op for action, _ in read_index(str(path)) for op in action} == {"index"}
    latest = latest_docs(str(path))
    assert len(latest) == 2 and sum(1 for _ in read_index(str(path))) == 3
    assert latest[trace_spans(members)[0].doc_id()]["coldtrace.trace.invocations"] == 2
