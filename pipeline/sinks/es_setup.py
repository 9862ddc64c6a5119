"""Applies coldtrace's index templates and lifecycle policies, and creates the indices.

Idempotent: policies and templates are PUT (replaced by the same content), data streams and
indices are created only when missing. Works on Elasticsearch 8.x/9.x (ILM policies, data
streams) and degrades where a server lacks a feature, saying so in the report:

- no ILM (OpenSearch, test servers): the templates are applied without
  ``index.lifecycle.*`` settings — retention is then up to the operator;
- no data streams: the templates are applied without ``data_stream`` and plain indices
  with the same mappings are created.

Raw REST paths are used (``/_index_template``, ``/_ilm/policy``, ``/_data_stream``): they are
the same on every client and server version.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from elasticsearch import ApiError

from pipeline.sinks.es_client import make_client

log = logging.getLogger(__name__)

DASHBOARDS = resources.files("dashboards")  # package data: a checkout and an installed wheel alike
_JSON = {"accept": "application/json", "content-type": "application/json"}


@dataclass
class SetupReport:
    server: str = ""
    ilm: bool = True
    data_streams: bool = True
    policies: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    plain: list[str] = field(default_factory=list)  # data-stream indices found as plain indices
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"server: {self.server}",
               f"lifecycle policies: {', '.join(self.policies) or 'none (no ILM on this server)'}",
               f"index templates: {', '.join(self.templates)}",
               f"{'data streams' if self.data_streams else 'indices'} created: {', '.join(self.created) or 'none'}"
               + (f"; already there: {', '.join(self.existing)}" if self.existing else "")]
        return out + [f"note: {n}" for n in self.notes]


def load_templates(base: Path = DASHBOARDS) -> dict[str, dict[str, Any]]:
    """Index name → composable index template, from ``<base>/index-templates/*.json``."""
    paths = _json_files(base / "index-templates")
    if not paths:
        raise FileNotFoundError(f"no index templates in {base / 'index-templates'}")
    return {p.name.removesuffix(".json"): json.loads(p.read_text()) for p in paths}


def load_policies(base: Path = DASHBOARDS) -> dict[str, dict[str, Any]]:
    return {p.name.removesuffix(".json"): json.loads(p.read_text()) for p in _json_files(base / "ilm")}


def _json_files(folder) -> list:
    """``*.json`` of a folder: a Path or an importlib.resources Traversable (no glob there)."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.name.endswith(".json")), key=lambda p: p.name)


_AGE = re.compile(r"^\d+(d|h|m|s)$")


def with_retention(policy: dict[str, Any], retention: str) -> dict[str, Any]:
    """The policy with its delete phase at ``retention`` (``30d``, ``400d``, ``12h``)."""
    if not _AGE.match(retention):
        raise ValueError(f"retention {retention!r}: expected a number and a unit, e.g. 30d")
    out = copy.deepcopy(policy)
    out["policy"]["phases"]["delete"]["min_age"] = retention
    return out


def without_lifecycle(template: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(template)
    settings = out.get("template", {}).get("settings", {})
    for key in [k for k in settings if k.startswith("index.lifecycle.")]:
        del settings[key]
    return out


def without_data_stream(template: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(template)
    out.pop("data_stream", None)
    return out


def _request(client, method: str, path: str, body: Any = None) -> Any:
    return client.perform_request(method, path, headers=_JSON, body=body).body


def _error_text(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        return f"{err.get('type')}: {err.get('reason')}"
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    return str(body if body else exc)


def apply(client, templates: dict[str, dict[str, Any]], policies: dict[str, dict[str, Any]],
          retention: dict[str, str] | None = None) -> SetupReport:
    """Put policies and templates, create data streams (or indices). See the module docstring."""
    report = SetupReport()
    version = _request(client, "GET", "/").get("version", {})
    report.server = f"{version.get('distribution', 'elasticsearch')} {version.get('number', '?')}"

    for name, policy in policies.items():
        if retention and name in retention:
            policy = with_retention(policy, retention[name])
        try:
            _request(client, "PUT", f"/_ilm/policy/{name}", policy)
            report.policies.append(name)
        except ApiError as exc:
            if exc.meta.status in (400, 404, 405) and report.ilm:
                report.ilm = False
                report.notes.append(f"this server has no ILM ({_error_text(exc)}): templates applied "
                                    "without lifecycle settings; retention is up to the operator")
                break
            raise

    for index, tpl in templates.items():
        body = tpl if report.ilm else without_lifecycle(tpl)
        _request(client, "PUT", f"/_index_template/{index}", body)
        report.templates.append(index)

    for index, tpl in templates.items():
        if "data_stream" not in tpl:
            if report.data_streams and _is_data_stream(client, index):
                report.notes.append(f"{index} is a data stream (made by an earlier coldtrace) but must be a plain "
                                    "index: its documents are rewritten with the bulk 'index' operation, which data "
                                    f"streams refuse; reindex it elsewhere or delete it, then run es-setup again")
            _ensure_index(client, index, report)
            continue
        if report.data_streams and _ensure_data_stream(client, index, report):
            continue
        if not report.data_streams or index in report.plain:  # the same mappings on a plain index
            body = without_data_stream(tpl if report.ilm else without_lifecycle(tpl))
            _request(client, "PUT", f"/_index_template/{index}", body)
            _ensure_index(client, index, report)
    if report.plain and report.data_streams:
        report.notes.append(f"{', '.join(report.plain)}: plain indices already (made by an earlier setup or by "
                            "hand), kept as they are; their templates applied without data_stream")
    for note in report.notes:
        log.warning("es-setup: %s", note)
    return report


def _is_data_stream(client, index: str) -> bool:
    try:
        return bool(_request(client, "GET", f"/_data_stream/{index}").get("data_streams"))
    except ApiError:
        return False


def _ensure_data_stream(client, index: str, report: SetupReport) -> bool:
    """True when ``index`` is (now) a data stream; False when it is a plain index already, or
    the server has no data streams (``report.data_streams`` turns False)."""
    try:
        _request(client, "GET", f"/_data_stream/{index}")
        report.existing.append(index)
        return True
    except ApiError as exc:
        if exc.meta.status != 404:
            raise
    if client.indices.exists(index=index):
        report.plain.append(index)
        return False
    try:
        _request(client, "PUT", f"/_data_stream/{index}")
        report.created.append(index)
        return True
    except ApiError as exc:
        if "already_exists" in _error_text(exc):
            report.existing.append(index)
            return True
        if exc.meta.status not in (400, 404, 405):
            raise
        report.data_streams = False
        report.notes.append(f"this server has no data streams ({_error_text(exc)}): plain indices with the "
                            "same mappings instead")
        return False


def _ensure_index(client, index: str, report: SetupReport) -> None:
    if client.indices.exists(index=index):
        report.existing.append(index)
        return
    try:
        _request(client, "PUT", f"/{index}")
        report.created.append(index)
    except ApiError as exc:
        if "already_exists" not in _error_text(exc):
            raise
        report.existing.append(index)


def setup(settings, base: Path = DASHBOARDS, retention: dict[str, str] | None = None,
          credentials=None) -> SetupReport:
    """Connect with ``settings`` (``pipeline.sinks.es_client.EsSettings``) and apply."""
    client = make_client(settings, credentials, max_retries=3)
    try:
        return apply(client, load_templates(base), load_policies(base), retention)
    finally:
        client.close()
