"""What coldtrace sends to Elasticsearch, checked against Elastic's API specification.

``es-setup`` and the bulk writer run against the ES-API test server (osmem-server, or
``ES_URL``) through a client node that records every request; each recorded body is then
validated against the specification subset of every version kept in
``tests/contract/elasticsearch/`` (8.x and 9.x, see ``extract_es_spec.py``). osmem-server
accepts things Elasticsearch refuses; the spec does not. The rules Elasticsearch enforces
beyond the body types (a data stream takes only ``create``, needs a ``date`` ``@timestamp``;
overlapping templates of equal priority are refused) are checked here too, each citing
where Elasticsearch says so.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re

import pytest
from elastic_transport import Urllib3HttpNode
from elasticsearch import Elasticsearch

from pipeline.sinks.es_bulk import BulkWriter
from pipeline.sinks.es_client import CompatServerNode, EsSettings, PlainJsonNode, resolve_credentials, resolved
from pipeline.sinks.es_setup import apply, load_policies, load_templates, without_data_stream, without_lifecycle
from tests.contract import es_spec
from tests.contract.extract_es_spec import Parser, closure, tokenize
from tests.integration.es_support import reset_coldtrace
from tests.unit.test_index_templates import CASES, full_span

SPECS = es_spec.SPECS
# The request body each REST path carries (es_setup uses raw paths; the bulk writer /_bulk).
ROUTES = [("PUT", re.compile(r"^/_index_template/[^/]+$"), "put_index_template"),
          ("PUT", re.compile(r"^/_component_template/[^/]+$"), "put_component_template"),
          ("PUT", re.compile(r"^/_ilm/policy/[^/]+$"), "put_lifecycle"),
          ("PUT", re.compile(r"^/_data_stream/[^/]+$"), "create_data_stream"),
          ("PUT", re.compile(r"^/(?!_)[^/]+$"), "create_index")]
# Elasticsearch's index and data stream names: lowercase, none of \ / * ? " < > | space , #,
# not starting with - _ +, not . or .. (Create index API, path parameters).
INDEX_NAME = re.compile(r'^(?![-_+])(?!\.\.?$)[^A-Z\\/*?"<>| ,#:]{1,255}$')


REQUESTS: list[tuple[str, str, bytes | None]] = []


def recording_node(base: type) -> type:
    class RecordingNode(base):
        def perform_request(self, method, target, body=None, headers=None, **kw):  # type: ignore[override]
            REQUESTS.append((method, target.split("?")[0], body))
            return super().perform_request(method, target, body=body, headers=headers, **kw)
    return RecordingNode


@pytest.fixture(scope="module")
def sent(es_url) -> list[tuple[str, str, object]]:
    """Every request of an ``es-setup`` and of a bulk load of one document per index."""
    reset_coldtrace(es_url)
    REQUESTS.clear()
    settings = resolved(EsSettings(url=es_url))
    creds = resolve_credentials(settings)
    auth = {"api_key": creds.api_key} if creds.api_key else {"basic_auth": creds.basic} if creds.basic else {}
    base = {"off": Urllib3HttpNode, "media": PlainJsonNode, "on": CompatServerNode}[settings.plain_json]
    recording = Elasticsearch(es_url, node_class=recording_node(base), max_retries=0, **auth)
    try:
        apply(recording, load_templates(), load_policies())
        with BulkWriter(recording, max_retries=1, initial_backoff=0.01) as writer:
            for index, make in CASES:
                writer.add(index, make())
            writer.add("coldtrace-traces", full_span())
    finally:
        recording.close()
    out = []
    for method, path, body in REQUESTS:
        if body is not None and path.endswith("/_bulk"):
            out.append((method, path, [json.loads(line) for line in body.splitlines() if line.strip()]))
        else:
            out.append((method, path, json.loads(body) if body else None))
    return out


def _route(method: str, path: str) -> str | None:
    for m, pattern, request in ROUTES:
        if m == method and pattern.match(path):
            return request
    return None


@pytest.mark.parametrize("branch", SPECS)
def test_every_setup_request_body_conforms_to_the_spec(sent, branch):
    spec = es_spec.load(branch)
    checked = set()
    for method, path, body in sent:
        if method in ("GET", "HEAD", "DELETE") or path.endswith("/_bulk"):
            assert method != "DELETE", f"es-setup must not delete anything: {path}"
            continue
        request = _route(method, path)
        assert request, f"{method} {path}: a request the contract tests do not know; add its route"
        name = path.rsplit("/", 1)[1]
        if request in ("create_data_stream", "create_index"):
            assert INDEX_NAME.match(name), f"{path}: not a valid index or data stream name"
        assert spec.body_errors(request, body) == [], f"{method} {path} against Elasticsearch {branch}"
        checked.add(request)
    assert {"put_index_template", "put_lifecycle", "create_data_stream", "create_index"} <= checked \
        or {"put_index_template", "create_index"} <= checked  # a server without ILM / data streams


@pytest.mark.parametrize("branch", SPECS)
def test_every_shipped_template_and_policy_conforms_including_the_fallback_variants(branch):
    """The files as Elasticsearch gets them, whatever the test server supports."""
    spec = es_spec.load(branch)
    for name, tpl in load_templates().items():
        for variant in (tpl, without_lifecycle(tpl), without_data_stream(tpl)):
            assert spec.body_errors("put_index_template", variant) == [], name
        # the mappings and settings as a component template, the form Elastic's own packages
        # use and the one a user's ``@custom`` override of ours takes
        component = {"template": tpl["template"], "version": tpl["version"], "_meta": tpl["_meta"]}
        assert spec.body_errors("put_component_template", component) == [], name
    for name, policy in load_policies().items():
        assert spec.body_errors("put_lifecycle", policy) == [], name


def _leaves(properties: dict, prefix: str = ""):
    for name, m in properties.items():
        if "properties" in m:
            yield from _leaves(m["properties"], f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", m


@pytest.mark.parametrize("branch", SPECS)
def test_every_field_type_exists_in_every_version(branch):
    types = es_spec.load(branch).mapping_types()
    assert {"keyword", "date", "double", "long", "boolean", "match_only_text", "object"} <= types
    for name, tpl in load_templates().items():
        mappings = tpl["template"]["mappings"]
        for field, m in _leaves(mappings["properties"]):
            assert m["type"] in types, f"{name} {field}: {m['type']} is not a field type of {branch}"
        for dyn in mappings["dynamic_templates"]:
            (rule,) = dyn.values()
            assert rule["mapping"]["type"] in types


@pytest.mark.parametrize("branch", SPECS)
def test_bulk_action_lines_conform_and_data_streams_get_only_create(sent, branch):
    spec = es_spec.load(branch)
    streams = {name for name, tpl in load_templates().items() if "data_stream" in tpl}
    seen = set()
    for method, path, lines in sent:
        if not path.endswith("/_bulk"):
            continue
        assert method in ("POST", "PUT")
        for action, doc in zip(lines[::2], lines[1::2]):
            assert spec.errors(action, "BulkOperationContainer") == []
            (op, meta), = action.items()  # one operation per action line
            assert meta.get("_index") and meta.get("_id"), action
            # "A data stream only accepts index requests with op_type set to create" and its
            # documents need an @timestamp (Elasticsearch reference, Data streams).
            if meta["_index"] in streams:
                assert op == "create", f"{meta['_index']} is a data stream: {op} would be refused"
                assert "@timestamp" in doc
            seen.add(meta["_index"])
    assert seen == set(load_templates())


def test_data_streams_map_timestamp_as_a_date():
    # "The template's mappings must include a date or date_nanos @timestamp field" (Set up a data stream)
    for name, tpl in load_templates().items():
        if "data_stream" in tpl:
            assert tpl["template"]["mappings"]["properties"]["@timestamp"]["type"] in ("date", "date_nanos"), name


def test_no_two_templates_of_equal_priority_overlap():
    # Elasticsearch refuses a composable template whose patterns overlap another's at the same
    # priority ("index template [...] has index patterns [...] matching patterns from existing
    # templates ... with the same priority").
    items = list(load_templates().items())
    for i, (a, ta) in enumerate(items):
        for b, tb in items[i + 1:]:
            if ta["priority"] != tb["priority"]:
                continue
            for pa in ta["index_patterns"]:
                for pb in tb["index_patterns"]:
                    assert not (fnmatch.fnmatch(pb.rstrip("*"), pa) or fnmatch.fnmatch(pa.rstrip("*"), pb)), (a, b)
    # and above the built-in logs-*-*, metrics-*-* templates (priority 100)
    assert all(t["priority"] > 100 for _, t in items)


# -- the validator refuses what Elasticsearch refuses ----------------------------------------
def _broken(change) -> dict:
    tpl = copy.deepcopy(load_templates()["coldtrace-invocations"])
    change(tpl)
    return tpl


BROKEN = {
    "unknown field type": (lambda t: t["template"]["mappings"]["properties"]["faas"]["properties"]["name"]
                           .update(type="strnig"), "unknown field type 'strnig'"),
    "misspelled mapping parameter": (lambda t: t["template"]["mappings"]["properties"]["faas"]["properties"]
                                     ["name"].update(ignore_abov=1024), "unknown property 'ignore_abov'"),
    "mapping parameter of the wrong type": (lambda t: t["template"]["mappings"]["properties"]["faas"]
                                            ["properties"]["name"].update(ignore_above="big"), "expected number"),
    "parameter of another type (doc_values on text)": (
        lambda t: t["template"]["mappings"]["properties"]["error"]["properties"]["message"].update(
            ignore_above=10), "unknown property 'ignore_above'"),
    "misspelled template key": (lambda t: t.update(priorty=t.pop("priority")), "unknown property 'priorty'"),
    "misspelled setting": (lambda t: t["template"]["settings"].update({"index.number_of_shard": 1}),
                           "unknown property 'number_of_shard'"),
    "misspelled lifecycle setting": (lambda t: t["template"]["settings"].update(
        {"index.lifecycle.nme": "coldtrace-events"}), "unknown property 'nme'"),
    "dynamic of a wrong value": (lambda t: t["template"]["mappings"].update(dynamic="sometimes"),
                                 "expected"),
    "data_stream as a boolean": (lambda t: t.update(data_stream=True), "expected an object"),
}


@pytest.mark.parametrize("branch", SPECS)
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_template_is_rejected(branch, case):
    change, reason = BROKEN[case]
    errors = es_spec.load(branch).body_errors("put_index_template", _broken(change))
    assert errors and any(reason in e for e in errors), errors


@pytest.mark.parametrize("branch", SPECS)
def test_broken_policies_and_action_lines_are_rejected(branch):
    spec = es_spec.load(branch)
    policy = copy.deepcopy(load_policies()["coldtrace-events"])
    policy["policy"]["phases"]["hott"] = policy["policy"]["phases"].pop("hot")
    assert any("unknown property 'hott'" in e for e in spec.body_errors("put_lifecycle", policy))
    policy = copy.deepcopy(load_policies()["coldtrace-events"])
    policy["policy"]["phases"]["hot"]["actions"]["rollover"]["max_primary_shard_sze"] = "50gb"
    if spec.types["IlmActions"]["type"] != {"kind": "primitive", "name": "any"}:  # 8.13's spec leaves them untyped
        assert spec.body_errors("put_lifecycle", policy)
    assert spec.errors({"create": {"_idx": "x"}}, "BulkOperationContainer")
    assert spec.errors({"insert": {"_index": "x"}}, "BulkOperationContainer")
    assert spec.body_errors("create_data_stream", {"template": {}})  # that request has no body


# -- the subsets themselves ----------------------------------------------------------------
def test_the_kept_subsets_say_where_they_come_from_and_cover_8_and_9():
    assert {v.split(".")[0] for v in SPECS} >= {"8", "9"}
    for branch in SPECS:
        spec = es_spec.load(branch)
        assert spec.data["source"] == "https://github.com/elastic/elasticsearch-specification"
        assert re.fullmatch(r"[0-9a-f]{40}", spec.commit)
        assert spec.data["branch"] == branch and "extract_es_spec.py" in spec.data["regenerate"]


def test_the_extractor_parses_the_typescript_forms_the_spec_uses():
    ts = """
    export interface A<T = unknown> extends B { x?: T[]; 'a.b': 'k' | 'l' }
    export interface B { req: Record<string, long> }
    export type long = number
    export type C = A<string> & { [property: string]: any }
    export type Unused = Script
    export type Script = { source: string }
    """
    decls = Parser(tokenize(ts)).declarations()
    kept = closure(decls, ["C"])
    assert set(kept) == {"A", "B", "C", "long"}
    assert decls["A"]["type"]["props"]["a.b"]["type"] == {"kind": "union", "of": [
        {"kind": "literal", "value": "k"}, {"kind": "literal", "value": "l"}]}
    spec = es_spec.Spec({"branch": "t", "commit": "0" * 40, "types": kept})
    assert spec.errors({"req": {"n": 1}, "x": ["s"], "a.b": "k"}, "C") == []
    assert spec.errors({"req": {}, "x": [1], "a.b": "l"}, "A") == []  # T left out: its default, unknown
    assert spec.errors({"x": [1], "a.b": "m"}, "C") == [
        "$: missing required req", "$.x[0]: expected string, got 1", '$.a.b: expected one of "k", "l", got "m"']
