"""The pipeline's Elasticsearch sink under faults: ``coldtrace run`` with ``--es-url`` pointing at a
proxy in front of an ES-API server (``FaultProxy`` of the integration tests), or at a server that
is stopped and started again mid-run. Each row counts what Elasticsearch holds afterwards.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest

from pipeline.ledger import cross_check_elasticsearch
from pipeline.model import INDEX_DEADLETTER, INDEX_INVOCATIONS, INDEX_LOGS
from pipeline.sinks.elasticsearch import es_counters
from pipeline.sinks.es_client import EsSettings, resolved
from pipeline.sinks.es_setup import setup
from pipeline.summary import summarize_out
from tests.conftest import free_port
from tests.integration.es_support import FaultProxy, count, es, nth_bulk, refresh, reset_coldtrace
from tests.reliability.support import Clock, Row, event_keys, record, run_pipeline


class ItemFailingProxy(FaultProxy):
    """Fails chosen items of a bulk request for real: they are taken out of the request before it
    is forwarded (the server never stores them) and answered with ``status`` — as a node under
    pressure (503) or a mapping that refuses a document (400) answers item by item."""

    def __init__(self, upstream: str, fail):  # fail(bulk number, item number, action) -> status | None
        super().__init__(upstream, plan=lambda *a: None)
        self.fail, self.bulks, self.failed = fail, 0, Counter()

    def _forward(self, method, path, headers, body):
        if "/_bulk" not in path:
            return super()._forward(method, path, headers, body)
        lines = body.splitlines()
        pairs = list(zip(lines[0::2], lines[1::2]))
        with self._lock:
            k, self.bulks = self.bulks, self.bulks + 1
        verdict = [self.fail(k, i, json.loads(a)) for i, (a, _) in enumerate(pairs)]
        keep = b"".join(a + b"\n" + d + b"\n" for (a, d), v in zip(pairs, verdict) if v is None)
        answers = []
        if keep:
            status, hdrs, payload = super()._forward(method, path, headers, keep)
            if status != 200:
                return status, hdrs, payload
            answers = json.loads(payload)["items"]
        it = iter(answers)
        items = []
        for (a, _), v in zip(pairs, verdict):
            if v is None:
                items.append(next(it))
                continue
            self.failed[v] += 1
            kind, op = next(iter(json.loads(a).items()))
            reason = "node under pressure" if v >= 500 else "failed to parse field [aws.lambda.duration_ms]"
            items.append({kind: {"_index": op["_index"], "_id": op["_id"], "status": v, "error": {
                "type": "unavailable_shards_exception" if v >= 500 else "mapper_parsing_exception",
                "reason": f"{reason} (injected)"}}})
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {"took": 1, "errors": True, "items": items}).encode()


def es_event_keys(url: str) -> Counter:
    refresh(url)
    body = {"size": 10000, "query": {"match_all": {}}}
    hits = es(url, "POST", f"/{INDEX_LOGS}/_search", body)["hits"]["hits"]
    return Counter((h["_source"]["log.group"], h["_source"]["log.stream"], h["_source"]["event.id"]) for h in hits)


def es_dead_keys(url: str) -> set:
    """Events whose log document Elasticsearch refused: dead letters of stage elasticsearch."""
    body = {"size": 10000, "query": {"match_all": {}}}
    hits = es(url, "POST", f"/{INDEX_DEADLETTER}/_search", body)["hits"]["hits"]
    out = set()
    for h in hits:
        src = h["_source"]
        if src.get("coldtrace.stage") == "elasticsearch" and src.get("coldtrace.source", "").startswith(INDEX_LOGS):
            doc = json.loads(src["event.original"])
            out.add((doc["log.group"], doc["log.stream"], doc["event.id"]))
    return out


def run_into_es(fault, url, es_server_url, fleet_files, fleet_payloads, tmp_path, clock):
    """The pipeline on the fleet with the Elasticsearch sink at ``url``; one row from what ES holds.
    Returns (row, the sink's counters)."""
    fleet_dir, _ = fleet_files
    out = tmp_path / "out"
    run = run_pipeline([str(fleet_dir / "payloads-*.ndjson")], out,
                       es=EsSettings(url=url, plain_json="on", request_timeout=5))
    counters = es_counters(run.result)
    documents = summarize_out(str(out))["documents"]
    cross_check_elasticsearch(run.ledger, counters, documents)  # every document handed over has an outcome
    events_in = event_keys(fleet_payloads[0])
    in_es = es_event_keys(es_server_url)
    dead = es_dead_keys(es_server_url)
    assert not set(in_es) - events_in
    assert count(es_server_url, INDEX_INVOCATIONS) == documents[INDEX_INVOCATIONS]  # invocations exactly once too
    row = record(Row(fault, len(events_in), len(set(in_es)), len(dead), sum(n - 1 for n in in_es.values()),
                     len(events_in - set(in_es) - dead), run.ledger.totals["duplicates_removed"], run.ledger_state,
                     "", clock.seconds))
    return row, counters


FAULTS = {
    "ES bulk 429 (3 requests)": nth_bulk(lambda k: ("status", 429) if k < 3 else None),
    "ES bulk 500/503 (4 requests)": nth_bulk(lambda k: ("status", 500 if k % 2 else 503) if k < 4 else None),
    "ES connection reset before the bulk reached the server": nth_bulk(lambda k: "drop" if k in (0, 2) else None),
    "ES connection reset after the server stored the bulk": nth_bulk(
        lambda k: "forward-then-drop" if k in (0, 1) else None),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_bulk_request_faults(fault, es_url, fleet_files, fleet_payloads, tmp_path):
    clock = Clock()
    reset_coldtrace(es_url)
    with FaultProxy(es_url, FAULTS[fault]) as proxy:
        row, c = run_into_es(fault, proxy.url, es_url, fleet_files, fleet_payloads, tmp_path, clock)
    assert c["retried"] > 0 and row.dead_lettered == 0
    if "after the server stored" in fault:
        assert c["already_indexed"] > 0  # the resent documents met their own ids: 409, not a copy
    row.notes = f"{c['retried']} documents retried, {c['already_indexed']} already there (409)"


def test_partial_item_failures_retried_or_dead_lettered(es_url, fleet_files, fleet_payloads, tmp_path):
    """Items answered 503 (not stored) are resent alone; items answered 400 become dead letters."""
    clock = Clock()
    reset_coldtrace(es_url)

    first_logs_item = threading.Lock()  # taken once: the very first logs item is always rejected

    def fail(k, i, action):
        if next(iter(action.values()))["_index"] != INDEX_LOGS:
            return None
        if first_logs_item.acquire(blocking=False):
            return 400  # at least one reject, whichever index the writer's first bulk request carried
        if k < 3 and i % 7 == 3:
            return 503
        return 400 if k == 0 and i % 97 == 5 else None

    with ItemFailingProxy(es_url, fail) as proxy:
        row, _ = run_into_es("ES partial item failures (503 resent, 400 dead-lettered)", proxy.url, es_url,
                          fleet_files, fleet_payloads, tmp_path, clock)
    assert proxy.failed[503] > 0 and proxy.failed[400] > 0
    assert row.dead_lettered == proxy.failed[400]
    row.notes = f"{proxy.failed[503]} items 503 then resent, {proxy.failed[400]} items 400 → coldtrace-deadletter"


def test_a_server_restart_mid_run(fleet_files, fleet_payloads, tmp_path):
    """The server goes down as the first bulk request arrives and comes back a second later on the
    same port (osmem-server keeps nothing in memory across a restart, so the templates are applied
    again, as a real node would still have them). Nothing had been acknowledged: the writer's
    retries carry every document into the new server exactly once."""
    osmem_server = pytest.importorskip("osmem_server")
    clock = Clock()
    port = free_port()
    servers = [osmem_server.OsmemServer.start(japanese=False, addr=f"127.0.0.1:{port}")]
    url = servers[0].url
    state = {"down": False, "ready": False}

    def come_back():
        time.sleep(1.0)
        servers.append(osmem_server.OsmemServer.start(japanese=False, addr=f"127.0.0.1:{port}"))
        setup(resolved(EsSettings(url=url)))
        state["ready"] = True

    def plan(n, method, path, body):
        if "/_bulk" in path and not state["down"]:
            state["down"] = True
            servers[0].close()
            threading.Thread(target=come_back, daemon=True).start()
        if state["down"] and not state["ready"]:
            return "drop"  # a dead node: connections reset
        return None

    try:
        with FaultProxy(url, plan) as proxy:
            row, _ = run_into_es("ES server restart mid-run", proxy.url, url, fleet_files, fleet_payloads, tmp_path,
                              clock)
            drops = sum(1 for r in proxy.requests if r[2] == "drop")
        assert len(servers) == 2 and drops > 0
        row.notes = f"down ~1 s, {drops} requests reset; every document in the new server once"
    finally:
        for s in servers:
            s.close()
