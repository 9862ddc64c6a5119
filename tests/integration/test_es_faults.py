"""The bulk writer when the network and the server misbehave: nothing lost, nothing duplicated,
rejected documents in the dead-letter index and file with their reasons.

A proxy on 127.0.0.1 stands between the writer and the ES-API server and answers 429 or 5xx,
closes connections before or after the server did the work, or marks items of an answer as
429. Backoffs are shortened so every case takes well under a second or two.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.model import INDEX_DEADLETTER, INDEX_INVOCATIONS, Invocation
from pipeline.sinks.es_bulk import BulkError, BulkWriter
from pipeline.sinks.es_client import EsSettings, make_client, resolved
from pipeline.sinks.es_setup import setup

from .es_support import FaultProxy, count, es, ids, nth_bulk, refresh, reset_coldtrace

T0 = 1714557600000
FAST = dict(max_docs=40, concurrency=2, max_retries=6, initial_backoff=0.01, max_backoff=0.05)


def invocations(n: int) -> list[Invocation]:
    return [Invocation(function_name=f"fn-{i % 5}", request_id=f"00000000-0000-4000-8000-{i:012d}",
                       log_group=f"/aws/lambda/fn-{i % 5}", start_ms=T0 + i * 100, end_ms=T0 + i * 100 + 50,
                       duration_ms=50.0 + i, memory_size_mb=128, max_memory_used_mb=64, outcome="success",
                       log_count=3, log_bytes=200)
            for i in range(n)]


@pytest.fixture()
def clean(es_url):
    reset_coldtrace(es_url)
    setup(resolved(EsSettings(url=es_url)))
    return es_url


def write_through(proxy: FaultProxy, records, bad_docs=(), rejects: Path | None = None, **options) -> BulkWriter:
    client = make_client(EsSettings(url=proxy.url, plain_json="on", request_timeout=5))
    writer = BulkWriter(client, rejects_path=str(rejects) if rejects else None, **{**FAST, **options})
    with writer:
        for i, rec in enumerate(records):
            writer.add(INDEX_INVOCATIONS, rec)
            if i % 50 == 7 and bad_docs:
                doc_id, doc = bad_docs.pop()
                writer.add_doc(INDEX_INVOCATIONS, doc_id, doc)
    client.close()
    return writer


def assert_exactly_once(es_url: str, records) -> None:
    refresh(es_url)
    got = ids(es_url, INDEX_INVOCATIONS)
    assert len(got) == len(set(got)), "duplicates"
    assert sorted(got) == sorted(r.doc_id() for r in records), "lost or extra documents"


FAULTS = {
    "429 for a while": nth_bulk(lambda k: ("status", 429) if k < 4 else None),
    "500 and 503 for a while": nth_bulk(lambda k: ("status", 500 if k % 2 else 503) if k < 4 else None),
    "connection closed before the server saw the bulk": nth_bulk(lambda k: "drop" if k in (0, 2, 3) else None),
    "connection closed after the server did the work": nth_bulk(
        lambda k: "forward-then-drop" if k in (0, 1, 4) else None),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_nothing_lost_nothing_duplicated(clean, fault):
    records = invocations(200)
    with FaultProxy(clean, FAULTS[fault]) as proxy:
        writer = write_through(proxy, records)
    assert_exactly_once(clean, records)
    c = writer.counts
    assert c.retried > 0 and c.rejected == 0
    assert c.indexed + c.already_indexed == len(records)
    if fault == "connection closed after the server did the work":
        assert c.already_indexed > 0  # the resent documents met their own ids: 409, not a copy


def test_items_answered_429_are_resent_alone(clean):
    def mark_some_429(answer):
        answer["errors"] = True
        for item in answer["items"][::4]:
            op = item["create"]
            op.pop("result", None)
            op.update(status=429, error={"type": "es_rejected_execution_exception", "reason": "queue full"})
        return answer

    records = invocations(120)
    with FaultProxy(clean, nth_bulk(lambda k: ("rewrite", mark_some_429) if k < 2 else None)) as proxy:
        writer = write_through(proxy, records)
    assert_exactly_once(clean, records)
    c = writer.counts
    assert c.retried == 10 + 10  # every 4th item of two 40-document requests
    assert c.already_indexed == c.retried  # they had landed: the retry met a 409
    assert c.indexed + c.already_indexed == len(records)


def test_rejected_documents_become_dead_letters_with_the_reason(clean, tmp_path):
    records = invocations(150)
    bad = []
    for i in range(3):
        doc = records[i].to_doc()
        doc["aws.lambda.duration_ms"] = "not a number"
        bad.append((f"bad-{i}", doc))
    rejects = tmp_path / "es-rejected.ndjson"
    with FaultProxy(clean, nth_bulk(lambda k: ("status", 503) if k == 1 else None)) as proxy:
        writer = write_through(proxy, records, bad_docs=list(bad), rejects=rejects)
    assert_exactly_once(clean, records)
    c = writer.counts
    assert c.rejected == 3 and c.dead_lettered == 3
    assert c.indexed == len(records) + 3  # the good ones and the three dead letters
    refresh(clean)
    assert count(clean, INDEX_DEADLETTER) == 3
    hits = es(clean, "POST", f"/{INDEX_DEADLETTER}/_search", {"size": 10})["hits"]["hits"]
    sources = {h["_source"]["coldtrace.source"]: h["_source"] for h in hits}
    assert set(sources) == {f"{INDEX_INVOCATIONS}/bad-{i}" for i in range(3)}
    for src in sources.values():
        assert src["coldtrace.stage"] == "elasticsearch"
        assert src["error.message"].startswith("400 ") and "duration_ms" in src["error.message"]
        assert json.loads(src["event.original"])["aws.lambda.duration_ms"] == "not a number"
    lines = rejects.read_text().splitlines()
    assert len(lines) == 6 and all(json.loads(a)["create"]["_index"] == INDEX_DEADLETTER for a in lines[::2])


def test_when_retries_run_out_the_writer_fails_loudly(clean):
    records = invocations(30)
    with FaultProxy(clean, nth_bulk(lambda k: ("status", 503))) as proxy:
        with pytest.raises(BulkError, match="not written after 3 retries"):
            write_through(proxy, records, max_retries=3)
        assert len(proxy.bulk_requests()) == 4  # the first try and three retries
    refresh(clean)
    assert count(clean, INDEX_INVOCATIONS) == 0


def test_a_rerun_after_a_failure_completes_without_copies(clean):
    records = invocations(100)
    with FaultProxy(clean, nth_bulk(lambda k: "forward-then-drop" if k >= 1 else None)) as proxy:
        with pytest.raises(BulkError):
            write_through(proxy, records, max_retries=1)
    with FaultProxy(clean, lambda *a: None) as proxy:
        writer = write_through(proxy, records)
    assert_exactly_once(clean, records)
    assert writer.counts.already_indexed > 0
