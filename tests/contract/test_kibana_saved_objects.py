"""The shipped Kibana saved objects against Kibana's own schemas and import rules.

``kibana/saved_objects.json`` holds what Kibana's source says about the four types coldtrace
ships (data views, Lens visualizations, saved searches, dashboards) for the 8.x and 9.x lines:
the attribute schemas it validates with, and the newest migration version it knows per type.
The import-level rules (``kibana_spec.ImportRules``) also drive the local Kibana stand-in of
``tests/integration/test_kibana_import.py``.
"""

from __future__ import annotations

import copy
import json
import re

import pytest

from pipeline.kibana import load_saved_objects, saved_object_files
from tests.contract.kibana_spec import TARGETS, ImportRules, schema_errors, spec, version_key


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    return load_saved_objects(saved_object_files())


@pytest.mark.parametrize("target", TARGETS)
def test_everything_shipped_passes_the_import_rules(objects, target):
    result = ImportRules(target).check(objects)
    assert result.fatal is None and result.errors == []
    assert len(result.imported) == len(objects)


@pytest.mark.parametrize("target", TARGETS)
def test_no_migration_version_is_newer_than_the_target_knows(objects, target):
    rules = ImportRules(target)
    for o in objects:
        assert version_key(o["typeMigrationVersion"]) <= version_key(rules.types[o["type"]]["latest"]), o["id"]
        assert version_key(o["coreMigrationVersion"]) <= version_key(rules.kibana), o["id"]


def test_the_oldest_kibana_the_objects_need_is_8_9(objects):
    # a Kibana whose newest Lens/dashboard migration is below 8.9.0 refuses these objects;
    # docs/elasticsearch.md says 8.9 is the floor
    assert max(version_key(o["typeMigrationVersion"]) for o in objects) == (8, 9, 0)
    assert {o["type"] for o in objects} == {"index-pattern", "lens", "search", "dashboard"}


@pytest.mark.parametrize("target", TARGETS)
def test_each_type_is_checked_with_the_schema_kibana_uses_for_it(objects, target):
    rules = ImportRules(target)
    used = {o["type"]: rules.schema_for(o) for o in objects}
    # the saved searches declare 8.0.0, below the first search schema (8.8.0): checked with it anyway
    assert used == {"dashboard": "dashboard@8.9.0", "search": "search@8.8.0", "lens": "lens@v0",
                    "index-pattern": "index-pattern@interface"}


def _one(objects, type_: str) -> dict:
    return copy.deepcopy(next(o for o in objects if o["type"] == type_))


@pytest.mark.parametrize("target", TARGETS)
def test_a_dashboard_with_a_dangling_reference_is_rejected(objects, target):
    objs = copy.deepcopy(objects)
    dash = next(o for o in objs if o["type"] == "dashboard")
    dash["references"][0]["id"] = "coldtrace-lens-does-not-exist"
    result = ImportRules(target).check(objs)
    assert [(e["id"], e["error"]["type"]) for e in result.errors] == [(dash["id"], "missing_references")]
    assert result.errors[0]["error"]["references"] == [
        {"type": dash["references"][0]["type"], "id": "coldtrace-lens-does-not-exist"}]


@pytest.mark.parametrize("target", TARGETS)
def test_broken_objects_are_rejected(objects, target):
    rules = ImportRules(target)
    cases = []
    o = _one(objects, "dashboard")
    o["attributes"]["panels"] = []  # 9.x API name, not a saved-object attribute
    cases.append((o, "[attributes.panels]: definition for this key is missing"))
    o = _one(objects, "dashboard")
    del o["attributes"]["title"]
    cases.append((o, "[attributes.title]"))
    o = _one(objects, "search")
    o["attributes"]["columns"] = "faas.name"
    cases.append((o, "[attributes.columns]"))
    o = _one(objects, "search")
    o["attributes"]["hideTable"] = True  # a 9.x Discover tab attribute, not a saved-search one
    cases.append((o, "[attributes.hideTable]: definition for this key is missing"))
    o = _one(objects, "lens")
    o["attributes"]["title"] = None
    cases.append((o, "[attributes.title]"))
    o = _one(objects, "index-pattern")
    o["attributes"]["timefieldName"] = "@timestamp"
    cases.append((o, "[attributes.timefieldName]: definition for this key is missing"))
    o = _one(objects, "lens")
    o["typeMigrationVersion"] = "10.99.0"
    cases.append((o, "belongs to a more recent version of Kibana [10.99.0]"))
    for obj, reason in cases:
        others = [x for x in objects if (x["type"], x["id"]) != (obj["type"], obj["id"])]
        result = rules.check(others + [obj])
        assert [e["id"] for e in result.errors] == [obj["id"]], reason
        assert reason in result.errors[0]["error"]["message"], result.errors[0]
    o = _one(objects, "lens")
    o["type"] = "visualisation"
    assert rules.check([o]).errors[0]["error"]["type"] == "unsupported_type"
    assert "Non-unique" in rules.check([o, o]).fatal


def test_the_schema_reader_follows_config_schema():
    s = {"object": {"a": "string", "b": {"maybe": "number"}, "c": {"default": {"arrayOf": "string"}}},
         "unknowns": "forbid"}
    assert schema_errors({"a": "x"}, s, "attributes") == []
    assert schema_errors({"a": "x", "b": None}, s, "attributes") == [
        "[attributes.b]: expected value of type [number] but got [NoneType]"]
    assert schema_errors({"b": 1, "z": 1}, s, "attributes") == [
        "[attributes.a]: expected value of type [string] but got [undefined]",
        "[attributes.z]: definition for this key is missing"]
    assert schema_errors({"a": "x", "z": 1}, {**s, "unknowns": "ignore"}, "attributes") == []


def test_the_kept_schemas_say_where_they_come_from():
    data = spec()
    assert data["source"] == "https://github.com/elastic/kibana"
    for type_ in ("dashboard", "lens", "search", "index-pattern"):
        assert data["files"][type_], type_
    for target in TARGETS:
        for type_, rules in data["targets"][target]["types"].items():
            assert all(name in data["schemas"] for name in rules["schemas"].values()), (target, type_)


# -- the conventions of the dashboards Elastic ships (elastic/integrations, package aws) ----
def test_reference_names_follow_kibanas_conventions(objects):
    """As Kibana exports and Elastic's AWS package ships them: a dashboard panel is
    ``<panelIndex>:panel_<panelIndex>``, a control ``controlGroup_<id>:optionsListDataView``,
    a Lens layer ``indexpattern-datasource-layer-<layerId>``, a search's data view
    ``kibanaSavedObjectMeta.searchSourceJSON.index``; ids carry the package's prefix."""
    for o in objects:
        assert o["id"].startswith("coldtrace-"), o["id"]
        names = [r["name"] for r in o["references"]]
        if o["type"] == "dashboard":
            for panel in json.loads(o["attributes"]["panelsJSON"]):
                assert panel["panelRefName"] == f"panel_{panel['panelIndex']}"
            assert all(re.fullmatch(r"(p\d+:panel_p\d+|controlGroup_[\w-]+:optionsListDataView)", n) for n in names)
        elif o["type"] == "lens":
            layers = o["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
            assert sorted(names) == sorted(f"indexpattern-datasource-layer-{lid}" for lid in layers)
        elif o["type"] == "search":
            source = json.loads(o["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
            assert names == [source["indexRefName"]] == ["kibanaSavedObjectMeta.searchSourceJSON.index"]
