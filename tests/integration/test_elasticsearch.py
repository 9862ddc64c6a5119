"""coldtrace against a running ES-API server (osmem-server, or ``ES_URL``): templates applied,
a simulated run indexed exactly as its local index files, a second run adding nothing, and
the dashboards' aggregations answering what the files say."""

from __future__ import annotations

import base64
import math
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import pytest
from elasticsearch import ApiError, UnsupportedProductError

from pipeline import cli
from pipeline.kibana import load_saved_objects, saved_object_files
from pipeline.local_index import doc_id_of, index_path, read_index
from pipeline.model import INDEX_DEADLETTER, INDEX_INVOCATIONS, INDEX_LOGS, iso_ms
from pipeline.run import RunConfig, run
from pipeline.sinks.elasticsearch import es_counters
from pipeline.sinks.es_client import CompatServerNode, EsSettings, PlainJsonNode, make_client, resolved
from pipeline.sinks.es_setup import load_templates, setup
from tests.conftest import free_port

from .es_support import FaultProxy, count, es, ids, lens_search, refresh, reset_coldtrace

LOCAL = (INDEX_LOGS, INDEX_INVOCATIONS, INDEX_DEADLETTER)  # at least these; any other index file a run writes too


def local_indices(out: Path) -> list[str]:
    names = sorted(p.stem for p in (out / "indices").glob("coldtrace-*.ndjson"))
    assert set(LOCAL) <= set(names), names
    return names


@pytest.fixture(scope="module")
def settings(es_url) -> EsSettings:
    return resolved(EsSettings(url=es_url))


@pytest.fixture(scope="module")
def bad_input(tmp_path_factory) -> Path:
    """One unreadable input, so dead letters flow too (same path every run: same dead letter id)."""
    bad = tmp_path_factory.mktemp("bad") / "bad.ndjson"
    bad.write_text('{"awslogs": {"data": "not base64 gzip"}}\n')
    return bad


def _run(sim_fleet, out: Path, settings: EsSettings, bad: Path):
    fleet_dir, truth = sim_fleet
    cfg = RunConfig(inputs=[str(fleet_dir / "payloads-*.ndjson"), str(bad)], out_dir=str(out),
                    account=truth["config"]["account"], region=truth["config"]["region"],
                    architectures={fn: f["architecture"] for fn, f in truth["functions"].items()}, es=settings)
    return run(cfg)


@pytest.fixture(scope="module")
def indexed(es_url, settings, sim_fleet, tmp_path_factory, bad_input):
    """A simulated fleet run with the Elasticsearch sink: (out dir, pipeline result)."""
    reset_coldtrace(es_url)
    out = tmp_path_factory.mktemp("es-run") / "out"
    result = _run(sim_fleet, out, settings, bad_input)
    refresh(es_url)
    return out, result


def local(out: Path, index: str) -> dict[str, dict]:
    return {doc_id_of(a): doc for a, doc in read_index(index_path(str(out), index))}


def test_templates_are_applied_with_their_mappings(es_url, indexed):
    for index, tpl in load_templates().items():
        got = es(es_url, "GET", f"/_index_template/{index}")["index_templates"][0]["index_template"]
        assert got["index_patterns"] == tpl["index_patterns"]
        mapping = es(es_url, "GET", f"/{index}/_mapping")
        props = next(iter(mapping.values()))["mappings"]["properties"]
        assert props["@timestamp"]["type"] == "date", index
    props = next(iter(es(es_url, "GET", f"/{INDEX_INVOCATIONS}/_mapping").values()))["mappings"]["properties"]
    assert props["faas"]["properties"]["coldstart"]["type"] == "boolean"
    assert props["aws"]["properties"]["lambda"]["properties"]["duration_ms"]["type"] == "double"


def test_every_local_document_is_in_elasticsearch_once_and_the_same(es_url, indexed):
    out, result = indexed
    total = 0
    for index in local_indices(out):
        docs = local(out, index)
        assert docs or index == INDEX_DEADLETTER
        assert count(es_url, index) == len(docs), index
        assert sorted(ids(es_url, index)) == sorted(docs), index
        total += len(docs)
        for doc_id in list(docs)[:5]:
            assert es(es_url, "GET", f"/{index}/_doc/{doc_id}")["_source"] == docs[doc_id]
    assert count(es_url, INDEX_DEADLETTER) >= 1  # the unreadable input
    counters = es_counters(result)
    assert counters["indexed"] == total and counters["rejected"] == 0


def test_a_second_identical_run_adds_no_document(es_url, settings, indexed, sim_fleet, tmp_path, bad_input):
    out, _ = indexed
    before = {index: count(es_url, index) for index in local_indices(out)}
    result = _run(sim_fleet, tmp_path / "again", settings, bad_input)
    refresh(es_url)
    assert {index: count(es_url, index) for index in local_indices(out)} == before
    counters = es_counters(result)
    assert counters["indexed"] == 0 and counters["already_indexed"] == sum(before.values())


# -- the dashboards' aggregations, against values computed from the local files -----------------
def lens(lens_id: str) -> dict:
    return next(o for o in load_saved_objects(saved_object_files()) if o["id"] == f"coldtrace-lens-{lens_id}")


def search_rows(es_url: str, lens_id: str) -> list[dict]:
    view, body, read = lens_search(lens(lens_id))
    return read(es(es_url, "POST", f"/{view}*/_search", body))


def near_rank(values: list[float], q: float, got: float) -> bool:
    """``got`` lies where the q-quantile of ``values`` lies, give or take 5 % of the ranks
    (Elasticsearch's percentiles are estimates)."""
    v = sorted(values)
    slack = max(1, len(v) // 20)
    lo = v[max(0, math.floor(q * (len(v) - 1)) - slack)]
    hi = v[min(len(v) - 1, math.ceil(q * (len(v) - 1)) + slack)]
    return lo - 1e-6 <= got <= hi + 1e-6


def test_invocations_by_outcome_over_time(es_url, indexed):
    docs = local(indexed[0], INDEX_INVOCATIONS).values()
    want = Counter((d["aws.lambda.outcome"], iso_ms(int(_ms(d["@timestamp"]) // 60000 * 60000))) for d in docs)
    rows = search_rows(es_url, "fleet-invocations-by-outcome")
    got = {(r["split"], r["x"]): r["y"] for r in rows if r["y"]}
    assert got == dict(want)
    assert len({k[0] for k in want}) >= 3  # success, error, timeout... in the fleet


def test_functions_table(es_url, indexed):
    docs = list(local(indexed[0], INDEX_INVOCATIONS).values())
    by_fn = defaultdict(list)
    for d in docs:
        by_fn[d["faas.name"]].append(d)
    rows = {r["fn"]: r for r in search_rows(es_url, "fleet-functions")}
    assert set(rows) == set(by_fn)
    for fn, ds in by_fn.items():
        r = rows[fn]
        assert r["n"] == len(ds)
        assert r["err"] == sum(d["event.outcome"] == "failure" for d in ds)
        assert r["cold"] == sum(d["faas.coldstart"] for d in ds)
        assert r["cost"] == pytest.approx(sum(d.get("aws.lambda.estimated_cost_usd", 0) for d in ds), rel=1e-6)
        durations = [d["aws.lambda.duration_ms"] for d in ds if "aws.lambda.duration_ms" in d]
        assert near_rank(durations, 0.95, r["p95"]), (fn, r["p95"])


def test_init_percentiles_by_runtime_and_memory(es_url, indexed):
    groups = defaultdict(list)
    for d in local(indexed[0], INDEX_INVOCATIONS).values():
        if d["faas.coldstart"] and "aws.lambda.runtime_version" in d and "aws.lambda.memory_size_mb" in d:
            groups[(d["aws.lambda.runtime_version"], d["aws.lambda.memory_size_mb"])].append(d)
    rows = search_rows(es_url, "cold-init-percentiles")
    assert len(rows) == len(groups) and groups
    for r in rows:
        ds = groups[(r["rt"], r["mem"])]
        assert r["n"] == len(ds)
        inits = [d["aws.lambda.init_duration_ms"] for d in ds if "aws.lambda.init_duration_ms" in d]
        if inits:
            for q, col in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
                assert near_rank(inits, q, r[col]), (r, q)


def test_memory_utilisation_by_function(es_url, indexed):
    by_fn = defaultdict(list)
    for d in local(indexed[0], INDEX_INVOCATIONS).values():
        if "aws.lambda.memory_utilization" in d:
            by_fn[d["faas.name"]].append(d["aws.lambda.memory_utilization"])
    rows = {r["x"]: r for r in search_rows(es_url, "perf-memory-by-function")}
    for fn, values in by_fn.items():
        assert rows[fn]["max"] == pytest.approx(max(values))
        assert rows[fn]["avg"] == pytest.approx(sum(values) / len(values))


def test_trace_panels(es_url, indexed):
    out = indexed[0]
    if "coldtrace-traces" not in local_indices(out):
        pytest.skip("this build writes no traces")
    roots = [d for d in local(out, "coldtrace-traces").values() if "coldtrace.trace.duration_ms" in d]
    assert roots
    slowest = sorted(roots, key=lambda d: -d["coldtrace.trace.duration_ms"])[:20]
    rows = search_rows(es_url, "traces-slowest")
    assert [r["dur"] for r in rows] == [d["coldtrace.trace.duration_ms"] for d in slowest]
    cut = slowest[-1]["coldtrace.trace.duration_ms"]  # ties at the cut may list either trace
    assert ({r["trace"]: r["fns"] for r in rows if r["dur"] > cut}
            == {d["trace.id"]: d["coldtrace.trace.functions"] for d in slowest if d["coldtrace.trace.duration_ms"] > cut})
    weakest = Counter(d["coldtrace.trace.weakest_link"] for d in roots
                      if d.get("coldtrace.trace.critical_path_cold_start"))
    got = {r["fn"]: r["n"] for r in search_rows(es_url, "cold-critical-path")}
    assert got == dict(weakest)


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


# -- es-load, connection modes ---------------------------------------------------------------
def test_es_load_reads_the_local_files_and_is_idempotent(es_url, indexed, capsys):
    out, _ = indexed
    reset_coldtrace(es_url)
    assert cli.main(["es-load", str(out), "--es-url", es_url, "-q"]) == 0
    first = capsys.readouterr().out
    refresh(es_url)
    for index in local_indices(out):
        assert count(es_url, index) == len(local(out, index)), index
    total = sum(len(local(out, index)) for index in local_indices(out))
    assert f"{total:,} documents indexed" in first
    assert cli.main(["es-load", str(out), "--es-url", es_url, "-q"]) == 0
    assert f"0 documents indexed, {total:,} already there" in capsys.readouterr().out


def test_es_setup_command_is_idempotent(es_url, indexed, capsys):
    assert cli.main(["es-setup", "--es-url", es_url]) == 0
    assert cli.main(["es-setup", "--es-url", es_url]) == 0
    text = capsys.readouterr().out
    assert "index templates: coldtrace-alarms" in text
    assert count(es_url, INDEX_INVOCATIONS) == len(local(indexed[0], INDEX_INVOCATIONS))


def test_plain_json_mode_is_what_non_elasticsearch_servers_need(es_url):
    info = es(es_url, "GET", "/")
    plain = resolved(EsSettings(url=es_url))
    client = make_client(EsSettings(url=es_url, plain_json="on"))
    assert client.info()["version"]["number"] == info["version"]["number"]
    if info["version"].get("distribution", "elasticsearch") != "elasticsearch":
        assert plain.plain_json == "on"
        versioned = make_client(EsSettings(url=es_url, plain_json="off"))
        with pytest.raises(ApiError) as err:
            versioned.bulk(operations=[{"create": {"_index": "coldtrace-probe", "_id": "1"}}, {"a": 1}])
        assert err.value.meta.status == 406


def test_credentials_travel_as_headers_never_as_options(es_url, monkeypatch):
    monkeypatch.setenv("CT_TEST_KEY", "key-id:key-secret")
    with FaultProxy(es_url, lambda *a: None) as proxy:
        settings = EsSettings(url=proxy.url, api_key_env="CT_TEST_KEY", plain_json="on")
        assert "key-secret" not in repr(settings)
        make_client(settings).info()

    assert proxy.headers[0]["authorization"] == "ApiKey " + base64.b64encode(b"key-id:key-secret").decode()


def test_a_server_that_is_not_there_is_one_line_of_error(capsys):
    code = cli.main(["es-setup", "--es-url", f"http://127.0.0.1:{free_port()}", "--es-timeout", "2"])
    assert code == 2
    assert "cannot reach Elasticsearch" in capsys.readouterr().err


def test_setup_reports_what_the_server_lacks(es_url, settings):
    report = setup(settings)
    if not report.ilm:
        assert any("no ILM" in n for n in report.notes)
    assert set(report.created + report.existing) == set(load_templates())


def test_only_the_compat_node_supplies_the_product_header(es_url):
    """The shim is for OpenSearch-compatible servers, which do not send ``X-Elastic-Product``
    (a proxy strips it here, as OpenSearch would answer): ``on`` supplies it; ``media``, chosen
    for Elasticsearch of another major, does not, so such a server is refused there."""
    with FaultProxy(es_url, lambda *a: None, drop_headers=("X-Elastic-Product",)) as proxy:
        on = make_client(EsSettings(url=proxy.url, plain_json="on"))
        media = make_client(EsSettings(url=proxy.url, plain_json="media"))
        try:
            assert {type(n) for n in on.transport.node_pool.all()} == {CompatServerNode}
            assert {type(n) for n in media.transport.node_pool.all()} == {PlainJsonNode}
            assert on.info()["version"]["number"]
            with pytest.raises(UnsupportedProductError):
                media.info()
        finally:
            on.close()
            media.close()
