"""coldtrace against a real Elasticsearch cluster, when there is one.

    ES_URL=https://host:9243 ES_API_KEY=... python -m pytest -q -m real_es

(or ``ES_USERNAME``/``ES_PASSWORD``). Skipped when ``ES_URL`` is unset. The cluster must be a
throwaway one: the tests delete and recreate ``coldtrace-*``. Everything goes through the
official client's normal path: for Elasticsearch the product-header shim
(``es_client.CompatServerNode``) is never chosen, and a test says so.

The index, template, idempotency and dashboard-query tests of ``test_elasticsearch.py`` run
here too (imported below), plus what only a real cluster can show: ILM policies and data
streams applied, a data stream refusing anything but ``create``, and the query of every
shipped Lens panel and saved search accepted.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import pytest

from pipeline.kibana import load_saved_objects, saved_object_files
from pipeline.model import INDEX_INVOCATIONS, INDEX_TRACES
from pipeline.sinks.es_bulk import BulkWriter
from pipeline.sinks.es_client import CompatServerNode, EsSettings, make_client, resolved
from pipeline.sinks.es_setup import load_policies, load_templates, setup

from .es_support import auth_headers, es, kql_to_query, lens_search, refresh
from .test_elasticsearch import (  # noqa: F401  (fixtures and tests, run again here against ES_URL)
    bad_input,
    indexed,
    settings,
    test_a_second_identical_run_adds_no_document,
    test_es_load_reads_the_local_files_and_is_idempotent,
    test_es_setup_command_is_idempotent,
    test_every_local_document_is_in_elasticsearch_once_and_the_same,
    test_functions_table,
    test_init_percentiles_by_runtime_and_memory,
    test_invocations_by_outcome_over_time,
    test_memory_utilisation_by_function,
    test_setup_reports_what_the_server_lacks,
    test_templates_are_applied_with_their_mappings,
    test_trace_panels,
)

pytestmark = [pytest.mark.real_es,
              pytest.mark.skipif(not os.environ.get("ES_URL"), reason="ES_URL is not set: no real Elasticsearch")]


@pytest.fixture(scope="module")
def cluster(es_url) -> EsSettings:
    s = resolved(EsSettings(url=es_url))
    setup(s)  # idempotent: keeps what the imported tests indexed
    return s


def test_the_client_takes_its_normal_path(es_url, cluster):
    req = urllib.request.Request(es_url + "/", headers=auth_headers())
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.headers.get("X-Elastic-Product") == "Elasticsearch"  # sent by the server itself
        info = json.loads(resp.read())
    assert info["version"].get("distribution", "elasticsearch") == "elasticsearch"
    assert cluster.plain_json in ("off", "media")  # never "on": that is the OpenSearch-compatible shim
    client = make_client(cluster)
    try:
        nodes = client.transport.node_pool.all()
        assert nodes and not any(isinstance(n, CompatServerNode) for n in nodes)
        assert client.info()["version"]["number"] == info["version"]["number"]
    finally:
        client.close()


def test_setup_applies_lifecycle_policies_and_data_streams(es_url, cluster):
    report = setup(cluster)
    assert report.ilm and report.data_streams, report.notes
    assert set(report.policies) == set(load_policies())
    for index, tpl in load_templates().items():
        if "data_stream" in tpl:
            (ds,) = es(es_url, "GET", f"/_data_stream/{index}")["data_streams"]
            assert ds["template"] == index
            assert ds.get("ilm_policy") == tpl["template"]["settings"]["index.lifecycle.name"]
        else:
            assert index in es(es_url, "GET", f"/{index}")  # a plain index, not a data stream
    for name, policy in load_policies().items():
        got = es(es_url, "GET", f"/_ilm/policy/{name}")[name]["policy"]
        assert got["phases"]["delete"]["min_age"] == policy["policy"]["phases"]["delete"]["min_age"]


def test_a_data_stream_takes_only_create_and_traces_take_index(es_url, cluster):
    """Why coldtrace-traces is a plain index: re-emitted traces are written with ``index``."""
    client = make_client(cluster)
    try:
        answer = client.bulk(operations=[{"index": {"_index": INDEX_INVOCATIONS, "_id": "probe"}},
                                         {"@timestamp": "2024-05-01T10:00:00Z"}])
        (item,) = answer["items"]
        assert item["index"]["status"] == 400  # "only write ops with an op_type of create are allowed"
        doc = {"@timestamp": "2024-05-01T10:00:00Z", "trace.id": "t-probe", "coldtrace.trace.invocations": 1}
        with BulkWriter(client, max_retries=1) as writer:
            writer.add_doc(INDEX_TRACES, "probe-span", doc)
        with BulkWriter(client, max_retries=1) as writer:
            writer.add_doc(INDEX_TRACES, "probe-span", {**doc, "coldtrace.trace.invocations": 2})
        assert writer.counts.rejected == 0
        refresh(es_url)
        got = es(es_url, "GET", f"/{INDEX_TRACES}/_doc/probe-span")["_source"]
        assert got["coldtrace.trace.invocations"] == 2
        es(es_url, "DELETE", f"/{INDEX_TRACES}/_doc/probe-span?refresh=true")
    finally:
        client.close()


def test_every_shipped_panel_and_search_query_is_accepted(es_url, indexed):  # noqa: F811 (the imported fixture)
    ran = 0
    for obj in load_saved_objects(saved_object_files()):
        if obj["type"] == "lens":
            view, body, read = lens_search(obj)
            read(es(es_url, "POST", f"/{view}*/_search", body))  # an error would raise
        elif obj["type"] == "search":
            view = obj["references"][0]["id"]
            source = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
            body = {"size": 5, "query": kql_to_query(source["query"]["query"]),
                    "sort": [{f: d} for f, d in obj["attributes"]["sort"]], "fields": obj["attributes"]["columns"]}
            es(es_url, "POST", f"/{view}*/_search", body)
        else:
            continue
        ran += 1
    assert ran >= 40


def test_setup_says_so_when_traces_are_still_a_data_stream(es_url, cluster):
    """An install made before coldtrace-traces became a plain index keeps a data stream that
    refuses re-emitted traces: es-setup names it instead of going on silently."""
    try:
        es(es_url, "DELETE", f"/{INDEX_TRACES}")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    es(es_url, "PUT", "/_index_template/coldtrace-probe-ds",
       {"index_patterns": [INDEX_TRACES], "priority": 500, "data_stream": {}})
    try:
        es(es_url, "PUT", f"/_data_stream/{INDEX_TRACES}")
        report = setup(cluster)
        assert any(f"{INDEX_TRACES} is a data stream" in n for n in report.notes), report.notes
    finally:
        es(es_url, "DELETE", f"/_data_stream/{INDEX_TRACES}")
        es(es_url, "DELETE", "/_index_template/coldtrace-probe-ds")
        setup(cluster)
