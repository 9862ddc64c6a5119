"""Builders of Kibana 8.x saved objects: data views, Lens columns and visualizations, Discover
searches and dashboards (by-reference panels, option-list controls). Used by build_kibana.py;
kept apart so the dashboards there read as a list of panels.
"""

from __future__ import annotations

import json

CORE = "8.8.0"
TYPE_VERSION = {"index-pattern": "8.0.0", "lens": "8.9.0", "dashboard": "8.9.0", "search": "8.0.0"}


def _obj(type_: str, id_: str, attributes: dict, references: list[dict]) -> dict:
    return {"id": id_, "type": type_, "attributes": attributes, "references": references,
            "coreMigrationVersion": CORE, "typeMigrationVersion": TYPE_VERSION[type_]}


def data_view(index: str) -> dict:
    return _obj("index-pattern", index, {"title": f"{index}*", "name": index.replace("-", " "),
                                          "timeFieldName": "@timestamp", "allowNoIndex": True}, [])


# -- Lens columns ------------------------------------------------------------------------
def date_histogram() -> dict:
    return {"label": "@timestamp", "dataType": "date", "operationType": "date_histogram",
            "sourceField": "@timestamp", "isBucketed": True, "scale": "interval",
            "params": {"interval": "auto", "includeEmptyRows": True, "dropPartials": False}}


def terms(field: str, size: int = 10, order_by: str | None = None, data_type: str = "string") -> dict:
    order = {"type": "column", "columnId": order_by} if order_by else {"type": "alphabetical", "fallback": True}
    return {"label": f"Top {size} values of {field}", "dataType": data_type, "operationType": "terms",
            "sourceField": field, "isBucketed": True, "scale": "ordinal",
            "params": {"size": size, "orderBy": order, "orderDirection": "desc" if order_by else "asc",
                       "otherBucket": True, "missingBucket": False, "parentFormat": {"id": "terms"}}}


def count(label: str = "Count", kql: str | None = None) -> dict:
    col = {"label": label, "customLabel": True, "dataType": "number", "operationType": "count",
           "sourceField": "___records___", "isBucketed": False, "scale": "ratio", "params": {"emptyAsNull": True}}
    if kql:
        col["filter"] = {"query": kql, "language": "kuery"}
    return col


def metric(op: str, field: str, label: str, kql: str | None = None, **params) -> dict:
    col = {"label": label, "customLabel": True, "dataType": "number", "operationType": op, "sourceField": field,
           "isBucketed": False, "scale": "ratio", "params": {"emptyAsNull": True, **params}}
    if op == "percentile":
        col["params"] = {"percentile": params["percentile"]}
    if kql:
        col["filter"] = {"query": kql, "language": "kuery"}
    return col


def last_value(field: str, label: str, data_type: str = "string") -> dict:
    return {"label": label, "customLabel": True, "dataType": data_type, "operationType": "last_value",
            "sourceField": field, "isBucketed": False, "scale": "ordinal" if data_type == "string" else "ratio",
            "params": {"sortField": "@timestamp", "showArrayValues": False}}


# -- Lens visualizations --------------------------------------------------------------------
def _lens(id_: str, title: str, index: str, vis_type: str, columns: dict[str, dict], visualization: dict,
          query: str = "", description: str = "") -> dict:
    layer = "layer1"
    state = {
        "datasourceStates": {"formBased": {"layers": {layer: {
            "columns": columns, "columnOrder": list(columns), "incompleteColumns": {}, "sampling": 1}}}},
        "visualization": {**visualization},
        "query": {"query": query, "language": "kuery"},
        "filters": [], "internalReferences": [], "adHocDataViews": {},
    }
    refs = [{"type": "index-pattern", "id": index, "name": f"indexpattern-datasource-layer-{layer}"}]
    return _obj("lens", f"coldtrace-lens-{id_}", {"title": title, "description": description,
                                                 "visualizationType": vis_type, "state": state}, refs)


def xy(id_: str, title: str, index: str, series: str, x: dict, ys: dict[str, dict], split: dict | None = None,
       query: str = "", description: str = "") -> dict:
    # Buckets first, outermost first (Lens nests the aggregations in column order): a breakdown
    # of a time axis goes outside the date histogram, a breakdown of a terms axis inside it.
    layer = {"layerId": "layer1", "layerType": "data", "seriesType": series, "xAccessor": "x",
             "accessors": list(ys)}
    if split is None:
        columns = {"x": x, **ys}
    else:
        layer["splitAccessor"] = "split"
        columns = {"split": split, "x": x} if x["operationType"] == "date_histogram" else {"x": x, "split": split}
        columns.update(ys)
    vis = {"legend": {"isVisible": True, "position": "right"}, "valueLabels": "hide", "fittingFunction": "None",
           "preferredSeriesType": series, "layers": [layer]}
    return _lens(id_, title, index, "lnsXY", columns, vis, query, description)


def table(id_: str, title: str, index: str, columns: dict[str, dict], query: str = "", description: str = "") -> dict:
    vis = {"layerId": "layer1", "layerType": "data", "columns": [{"columnId": c} for c in columns]}
    return _lens(id_, title, index, "lnsDatatable", columns, vis, query, description)


def tile(id_: str, title: str, index: str, col: dict, query: str = "") -> dict:
    vis = {"layerId": "layer1", "layerType": "data", "metricAccessor": "m"}
    return _lens(id_, title, index, "lnsMetric", {"m": col}, vis, query)


def search(id_: str, title: str, index: str, columns: list[str], query: str = "") -> dict:
    source = {"query": {"query": query, "language": "kuery"}, "filter": [],
              "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index"}
    attrs = {"title": title, "description": "", "columns": columns, "sort": [["@timestamp", "desc"]],
             "grid": {}, "hideChart": False, "isTextBasedQuery": False,
             "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(source)}}
    return _obj("search", f"coldtrace-search-{id_}", attrs,
                [{"type": "index-pattern", "id": index, "name": "kibanaSavedObjectMeta.searchSourceJSON.index"}])


def dashboard(id_: str, title: str, description: str, panels: list[tuple[dict, int, int]],
              controls: list[tuple[str, str, str]] = ()) -> dict:
    """``panels``: (saved object, width of 48, height); laid out left to right, top to bottom.
    ``controls``: (data view id, field, title) option lists above the panels."""
    entries, refs, x, y, row_h = [], [], 0, 0, 0
    for n, (obj, w, h) in enumerate(panels, 1):
        if x + w > 48:
            x, y, row_h = 0, y + row_h, 0
        pid = f"p{n}"
        entries.append({"type": obj["type"], "panelIndex": pid, "gridData": {"x": x, "y": y, "w": w, "h": h, "i": pid},
                        "embeddableConfig": {"enhancements": {}}, "panelRefName": f"panel_{pid}"})
        refs.append({"type": obj["type"], "id": obj["id"], "name": f"{pid}:panel_{pid}"})
        x, row_h = x + w, max(row_h, h)
    attrs = {"title": title, "description": description, "panelsJSON": json.dumps(entries),
             "optionsJSON": json.dumps({"useMargins": True, "syncColors": False, "syncCursor": True,
                                        "syncTooltips": False, "hidePanelTitles": False}),
             "timeRestore": False, "version": 1,
             "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(
                 {"query": {"query": "", "language": "kuery"}, "filter": []})}}
    if controls:
        ctl = {}
        for order, (view, field, label) in enumerate(controls):
            cid = f"control-{field.replace('.', '-')}"
            ctl[cid] = {"type": "optionsListControl", "order": order, "grow": True, "width": "medium",
                        "explicitInput": {"id": cid, "fieldName": field, "title": label, "selectedOptions": [],
                                          "enhancements": {}}}
            refs.append({"type": "index-pattern", "id": view, "name": f"controlGroup_{cid}:optionsListDataView"})
        attrs["controlGroupInput"] = {"controlStyle": "oneLine", "chainingSystem": "HIERARCHICAL",
                                      "panelsJSON": json.dumps(ctl),
                                      "ignoreParentSettingsJSON": json.dumps({
                                          "ignoreFilters": False, "ignoreQuery": False, "ignoreTimerange": False,
                                          "ignoreValidations": False})}
    return _obj("dashboard", f"coldtrace-dashboard-{id_}", attrs, refs)
