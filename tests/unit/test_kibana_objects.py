"""Kibana saved objects import cleanly and every panel finds its fields.

Checks the committed ``dashboards/kibana/*.ndjson``: valid NDJSON, unique ids, every reference
(panel → visualization/search, layer → data view, control → data view) resolves to an object
in the files, and every field a panel aggregates on is mapped, aggregatable, in the index
template of the data view it reads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.kibana import KIBANA_DIR, load_saved_objects, saved_object_files
from pipeline.sinks.es_setup import load_templates

from .test_index_templates import flat_mapping

AGGREGATABLE = {"keyword", "long", "double", "date", "boolean", "float", "integer", "scaled_float", "ip"}
KQL_FIELD = re.compile(r"([A-Za-z@_][\w.@]*)\s*(?::|>=|<=|>|<)")


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    return load_saved_objects(saved_object_files())


@pytest.fixture(scope="module")
def fields_of_view(objects) -> dict[str, dict[str, dict]]:
    """Data view id → {field: mapping} of the index template its pattern matches."""
    templates = load_templates()
    out = {}
    for o in objects:
        if o["type"] == "index-pattern":
            title = o["attributes"]["title"]
            matches = [t for t in templates.values() if title in t["index_patterns"]]
            assert len(matches) == 1, f"data view {title} matches {len(matches)} templates"
            out[o["id"]] = flat_mapping(matches[0]["template"]["mappings"]["properties"])
    return out


def by_key(objects) -> dict[tuple[str, str], dict]:
    return {(o["type"], o["id"]): o for o in objects}


def test_every_file_is_ndjson_of_saved_objects():
    for path in saved_object_files():
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        assert lines, path
        for line in lines:
            obj = json.loads(line)
            assert {"id", "type", "attributes", "references"} <= set(obj), (path.name, obj.get("id"))
            assert obj["typeMigrationVersion"].startswith("8.")


def test_ids_are_unique(objects):
    ids = [o["id"] for o in objects]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_every_reference_resolves(objects):
    known = by_key(objects)
    for o in objects:
        for ref in o["references"]:
            assert (ref["type"], ref["id"]) in known, f"{o['type']} {o['id']} → missing {ref['type']} {ref['id']}"
        names = [r["name"] for r in o["references"]]
        assert len(names) == len(set(names)), o["id"]


def test_dashboard_panels_match_their_references(objects):
    for o in objects:
        if o["type"] != "dashboard":
            continue
        refs = {r["name"]: r for r in o["references"]}
        panels = json.loads(o["attributes"]["panelsJSON"])
        assert panels, o["id"]
        for panel in panels:
            ref = refs[f"{panel['panelIndex']}:{panel['panelRefName']}"]
            assert ref["type"] == panel["type"]
            g = panel["gridData"]
            assert g["x"] + g["w"] <= 48 and g["i"] == panel["panelIndex"]
        for cid in json.loads(o["attributes"].get("controlGroupInput", {}).get("panelsJSON", "{}")):
            assert refs[f"controlGroup_{cid}:optionsListDataView"]["type"] == "index-pattern"


def _lens_fields(lens: dict) -> list[tuple[str, str, bool]]:
    """(field, where, must be aggregatable) used by a Lens visualization."""
    state = lens["attributes"]["state"]
    out = []
    for layer in state["datasourceStates"]["formBased"]["layers"].values():
        assert set(layer["columnOrder"]) == set(layer["columns"])
        for cid, col in layer["columns"].items():
            if col["sourceField"] != "___records___":
                out.append((col["sourceField"], f"column {cid}", True))
            if "sortField" in col.get("params", {}):
                out.append((col["params"]["sortField"], f"column {cid} sort", True))
            order = col.get("params", {}).get("orderBy", {})
            if order.get("type") == "column":
                assert order["columnId"] in layer["columns"], f"column {cid} orders by a missing column"
            for kql in [col.get("filter", {}).get("query", "")]:
                out += [(f, f"column {cid} filter", False) for f in KQL_FIELD.findall(kql)]
    out += [(f, "query", False) for f in KQL_FIELD.findall(state["query"]["query"])]
    return out


def test_every_field_a_panel_uses_is_mapped_and_aggregatable(objects, fields_of_view):
    checked = 0
    for o in objects:
        if o["type"] == "lens":
            view = next(r["id"] for r in o["references"] if r["type"] == "index-pattern")
            uses = _lens_fields(o)
        elif o["type"] == "search":
            view = o["references"][0]["id"]
            source = json.loads(o["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
            uses = [(c, "column", False) for c in o["attributes"]["columns"]]
            uses += [(f, "query", False) for f in KQL_FIELD.findall(source["query"]["query"])]
        elif o["type"] == "dashboard":
            refs = {r["name"]: r["id"] for r in o["references"]}
            controls = json.loads(o["attributes"].get("controlGroupInput", {}).get("panelsJSON", "{}"))
            for cid, ctl in controls.items():
                view = refs[f"controlGroup_{cid}:optionsListDataView"]
                field = ctl["explicitInput"]["fieldName"]
                assert fields_of_view[view][field]["type"] in AGGREGATABLE, (o["id"], field)
                checked += 1
            continue
        else:
            continue
        fields = fields_of_view[view]
        for field, where, agg in uses:
            assert field in fields, f"{o['id']} {where}: {field} is not in the {view} template"
            if agg:
                assert fields[field]["type"] in AGGREGATABLE, f"{o['id']} {where}: {field} is not aggregatable"
            checked += 1
    assert checked > 50


def test_the_dashboards_users_need_are_there(objects):
    known = by_key(objects)
    for name in ("fleet-overview", "cold-starts", "performance", "streams", "alarms", "traces", "logs"):
        assert ("dashboard", f"coldtrace-dashboard-{name}") in known, name
    for index in ("coldtrace-logs", "coldtrace-invocations", "coldtrace-traces", "coldtrace-metrics",
                  "coldtrace-alarms", "coldtrace-deadletter"):
        assert known[("index-pattern", index)]["attributes"]["timeFieldName"] == "@timestamp"
    streams = json.dumps([o for o in objects if o["id"].startswith("coldtrace-lens-streams")])
    assert "iterator_age_max_ms" in streams and "coldtrace-pipeline" in streams
    logs = known[("dashboard", "coldtrace-dashboard-logs")]
    controls = json.loads(logs["attributes"]["controlGroupInput"]["panelsJSON"])
    assert {c["explicitInput"]["fieldName"] for c in controls.values()} >= {"faas.execution", "labels.correlation_id"}
    assert any(r["type"] == "search" for r in logs["references"])


def test_saved_object_files_are_found_where_the_import_command_looks():
    assert KIBANA_DIR == Path(__file__).resolve().parents[2] / "dashboards" / "kibana"
    assert len(saved_object_files()) >= 8
