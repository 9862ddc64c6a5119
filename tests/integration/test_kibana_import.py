"""``coldtrace kibana-import`` against a local server that enforces Kibana's import rules.

No Kibana here: ``kibana_server.KibanaImportServer`` answers the saved-objects import API as
Kibana of the 8.x and 9.x lines does, refusing what Kibana refuses (unknown types, dangling
references, duplicate ids, migration versions newer than it knows, attributes its schemas
reject; ``tests/contract/kibana_spec.py``). What ships imports into both; broken objects fail
with the exit code and the reason.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest

from pipeline import cli
from pipeline.kibana import load_saved_objects, saved_object_files
from tests.contract.kibana_spec import TARGETS

from .kibana_server import KibanaImportServer, uploaded_file


@pytest.fixture(params=TARGETS)
def kibana(request):
    k = KibanaImportServer(request.param)
    yield k
    k.close()


def sent_objects(request: dict) -> list[dict]:
    name, content = uploaded_file(request["headers"]["content-type"], request["body"])
    assert name.endswith(".ndjson")
    return [json.loads(line) for line in content.decode().splitlines() if line]


def write_objects(tmp_path, objects: list[dict]):
    d = tmp_path / "objects"
    d.mkdir()
    (d / "broken.ndjson").write_text("".join(json.dumps(o) + "\n" for o in objects))
    return d


def test_everything_shipped_imports_with_the_headers_kibana_wants(kibana, monkeypatch, capsys):
    monkeypatch.setenv("ES_API_KEY", "kid:ksecret")
    assert cli.main(["kibana-import", "--kibana-url", kibana.url]) == 0
    (req,) = kibana.requests
    assert req["path"] == "/api/saved_objects/_import?overwrite=true"
    assert req["headers"]["kbn-xsrf"]
    assert req["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert req["headers"]["authorization"] == "ApiKey " + base64.b64encode(b"kid:ksecret").decode()
    shipped = load_saved_objects(saved_object_files())
    assert sent_objects(req) == shipped
    assert set(kibana.spaces["default"]) == {(o["type"], o["id"]) for o in shipped}
    assert f"imported {len(shipped)} saved objects" in capsys.readouterr().out


def test_a_second_import_overwrites_and_succeeds(kibana, monkeypatch):
    monkeypatch.delenv("ES_API_KEY", raising=False)
    assert cli.main(["kibana-import", "--kibana-url", kibana.url]) == 0
    assert cli.main(["kibana-import", "--kibana-url", kibana.url]) == 0


def test_import_into_a_space_with_basic_auth(kibana, monkeypatch):
    monkeypatch.delenv("ES_API_KEY", raising=False)
    monkeypatch.setenv("ES_USERNAME", "elastic")
    monkeypatch.setenv("ES_PASSWORD", "pw")
    assert cli.main(["kibana-import", "--kibana-url", kibana.url + "/", "--space", "ops"]) == 0
    req = kibana.requests[0]
    assert req["path"] == "/s/ops/api/saved_objects/_import?overwrite=true"
    assert req["headers"]["authorization"] == "Basic " + base64.b64encode(b"elastic:pw").decode()
    assert kibana.spaces["ops"] and "default" not in kibana.spaces


def _dashboard_with(objects, change):
    objs = [json.loads(json.dumps(o)) for o in objects]
    dash = next(o for o in objs if o["type"] == "dashboard")
    change(dash, objs)
    return objs


BROKEN = {
    "dangling reference": (
        lambda d, objs: d["references"].append({"type": "lens", "id": "coldtrace-lens-gone", "name": "p99:panel_p99"}),
        "missing_references", "lens coldtrace-lens-gone"),
    "reference to a data view not shipped": (
        lambda d, objs: objs.remove(next(o for o in objs if o["type"] == "index-pattern"
                                         and o["id"] == "coldtrace-invocations")),
        "missing_references", "index-pattern coldtrace-invocations"),
    "unknown type": (lambda d, objs: d.update(type="dashbaord"), "unsupported_type", ""),
    "type migration version newer than Kibana knows": (
        lambda d, objs: d.update(typeMigrationVersion="10.99.0"), "unknown", "belongs to a more recent version"),
    "core migration version newer than Kibana": (
        lambda d, objs: d.update(coreMigrationVersion="99.0.0"), "unknown", "coreMigrationVersion"),
    "attribute the dashboard schema does not define": (
        lambda d, objs: d["attributes"].update(panelsJson="[]"), "unknown",
        "[attributes.panelsJson]: definition for this key is missing"),
    "attribute of the wrong type": (
        lambda d, objs: d["attributes"].update(timeRestore="no"), "unknown", "[attributes.timeRestore]"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_dashboard_is_refused_and_the_exit_code_says_so(kibana, tmp_path, monkeypatch, capsys, case):
    monkeypatch.delenv("ES_API_KEY", raising=False)
    change, error_type, detail = BROKEN[case]
    objs = _dashboard_with(load_saved_objects(saved_object_files()), change)
    assert cli.main(["kibana-import", "--kibana-url", kibana.url, "--dir", str(write_objects(tmp_path, objs))]) == 1
    out = capsys.readouterr().out
    assert f": {error_type}" in out and detail in out, out


def test_duplicate_ids_refuse_the_whole_upload(kibana, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ES_API_KEY", raising=False)
    objs = load_saved_objects(saved_object_files())
    d = write_objects(tmp_path, objs + [objs[0]])
    assert cli.main(["kibana-import", "--kibana-url", kibana.url, "--dir", str(d)]) == 2
    assert "Non-unique import objects detected" in capsys.readouterr().err
    assert not kibana.spaces.get("default")


def test_a_reference_to_an_object_already_in_kibana_resolves(tmp_path, monkeypatch):
    monkeypatch.delenv("ES_API_KEY", raising=False)
    objs = load_saved_objects(saved_object_files())
    views = [o for o in objs if o["type"] == "index-pattern"]
    k = KibanaImportServer("9.x", existing={"default": views})
    try:
        d = write_objects(tmp_path, [o for o in objs if o["type"] != "index-pattern"])
        assert cli.main(["kibana-import", "--kibana-url", k.url, "--dir", str(d)]) == 0
    finally:
        k.close()


def test_without_the_xsrf_header_kibana_refuses():
    k = KibanaImportServer()
    try:
        req = urllib.request.Request(k.url + "/api/saved_objects/_import", data=b"x", method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 400
    finally:
        k.close()


def test_no_url_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.delenv("KIBANA_URL", raising=False)
    assert cli.main(["kibana-import"]) == 2
    assert "needs --kibana-url" in capsys.readouterr().err
