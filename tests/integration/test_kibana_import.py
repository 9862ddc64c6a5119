"""``coldtrace kibana-import`` posts the saved objects the way Kibana's import API takes them.

No Kibana here: a small HTTP server on 127.0.0.1 records the request and answers as Kibana
does (``{"success": …, "successCount": …, "errors": […]}``).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline import cli
from pipeline.kibana import load_saved_objects, saved_object_files


class FakeKibana:
    def __init__(self, answer=None) -> None:
        self.requests: list[dict] = []
        self.answer = answer
        kibana = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                kibana.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                        "body": body})
                if "kbn-xsrf" not in {k.lower() for k in self.headers}:  # what Kibana does without it
                    self._json(400, {"statusCode": 400, "message": "Request must contain a kbn-xsrf header."})
                    return
                objects = uploaded_objects(kibana.requests[-1])
                self._json(200, kibana.answer or {"success": True, "successCount": len(objects), "errors": []})

            def _json(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def uploaded_objects(request: dict) -> list[dict]:
    """The saved objects of the multipart upload's ``file`` field."""
    raw = f"Content-Type: {request['headers']['content-type']}\r\n\r\n".encode() + request["body"]
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    parts = [p for p in msg.iter_parts() if p.get_param("name", header="content-disposition") == "file"]
    assert len(parts) == 1
    assert parts[0].get_filename().endswith(".ndjson")
    return [json.loads(line) for line in parts[0].get_payload(decode=True).decode().splitlines() if line]


@pytest.fixture()
def kibana():
    k = FakeKibana()
    yield k
    k.close()


def test_import_posts_every_saved_object_once_with_the_headers_kibana_wants(kibana, monkeypatch, capsys):
    monkeypatch.setenv("ES_API_KEY", "kid:ksecret")
    assert cli.main(["kibana-import", "--kibana-url", kibana.url]) == 0
    (req,) = kibana.requests
    assert req["path"] == "/api/saved_objects/_import?overwrite=true"
    assert req["headers"]["kbn-xsrf"]
    assert req["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert req["headers"]["authorization"] == "ApiKey " + base64.b64encode(b"kid:ksecret").decode()
    sent = uploaded_objects(req)
    assert sent == load_saved_objects(saved_object_files())
    assert f"imported {len(sent)} saved objects" in capsys.readouterr().out


def test_import_into_a_space_with_basic_auth(kibana, monkeypatch):
    monkeypatch.delenv("ES_API_KEY", raising=False)
    monkeypatch.setenv("ES_USERNAME", "elastic")
    monkeypatch.setenv("ES_PASSWORD", "pw")
    assert cli.main(["kibana-import", "--kibana-url", kibana.url + "/", "--space", "ops"]) == 0
    req = kibana.requests[0]
    assert req["path"] == "/s/ops/api/saved_objects/_import?overwrite=true"
    assert req["headers"]["authorization"] == "Basic " + base64.b64encode(b"elastic:pw").decode()


def test_objects_kibana_refuses_are_listed_and_the_exit_code_says_so(monkeypatch, capsys):
    monkeypatch.delenv("ES_API_KEY", raising=False)
    k = FakeKibana(answer={"success": False, "successCount": 3, "errors": [
        {"id": "coldtrace-lens-x", "type": "lens", "error": {"type": "missing_references", "reason": "gone"}}]})
    try:
        assert cli.main(["kibana-import", "--kibana-url", k.url]) == 1
    finally:
        k.close()
    out = capsys.readouterr().out
    assert "lens coldtrace-lens-x: missing_references" in out


def test_no_url_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.delenv("KIBANA_URL", raising=False)
    assert cli.main(["kibana-import"]) == 2
    assert "needs --kibana-url" in capsys.readouterr().err
