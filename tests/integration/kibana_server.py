"""A local stand-in for Kibana's saved-objects import API that enforces Kibana's rules.

``POST [/s/<space>]/api/saved_objects/_import[?overwrite=true]`` with a multipart ``file``
of NDJSON, answered as Kibana answers (``success``, ``successCount``, ``successResults``,
``errors``), with the checks of ``tests/contract/kibana_spec.py`` for a target release line
(``8.x`` or ``9.x``): unknown types, dangling references, duplicate ids, migration versions
newer than the target and attributes its schemas refuse all fail here as they fail in Kibana.
Objects are kept per space, so a reference to an object imported earlier resolves, and an
import without ``overwrite`` of an id already there is a ``conflict``. No ``kbn-xsrf`` header:
400, as Kibana.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.contract.kibana_spec import ImportRules

MAX_BYTES = 26_214_400  # savedObjects.maxImportPayloadBytes default


def uploaded_file(content_type: str, body: bytes) -> tuple[str | None, bytes | None]:
    """(file name, content) of the multipart ``file`` field, or (None, None)."""
    raw = f"Content-Type: {content_type}\r\n\r\n".encode() + body
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    if not msg.is_multipart():
        return None, None
    for part in msg.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            return part.get_filename(), part.get_payload(decode=True)
    return None, None


class KibanaImportServer:
    def __init__(self, target: str = "9.x", existing: dict[str, list[dict]] | None = None) -> None:
        self.rules = ImportRules(target)
        self.spaces: dict[str, dict[tuple[str, str], dict]] = {
            space: {(o["type"], o["id"]): o for o in objs} for space, objs in (existing or {}).items()}
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.requests.append({"path": self.path, "headers": headers, "body": body})
                status, answer = server.handle(self.path, headers, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def _bad(status: int, message: str) -> tuple[int, dict]:
        return status, {"statusCode": status, "error": {400: "Bad Request", 404: "Not Found", 413:
                        "Payload Too Large", 422: "Unprocessable Entity"}[status], "message": message}

    def handle(self, path: str, headers: dict, body: bytes) -> tuple[int, dict]:
        url = urlsplit(path)
        parts = url.path.strip("/").split("/")
        space = "default"
        if parts[:1] == ["s"] and len(parts) > 2:
            space, parts = parts[1], parts[2:]
        if parts != ["api", "saved_objects", "_import"]:
            return self._bad(404, "Not Found")
        if "kbn-xsrf" not in headers:
            return self._bad(400, "Request must contain a kbn-xsrf header.")
        if len(body) > MAX_BYTES:
            return self._bad(413, "Payload content length greater than maximum allowed")
        name, content = uploaded_file(headers.get("content-type", ""), body)
        if content is None:
            return self._bad(400, "[request body.file]: expected value of type [Stream] but got [undefined]")
        if not (name or "").endswith(".ndjson"):
            return self._bad(400, f"Invalid file extension {name}")
        try:
            objects = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self._bad(400, f"Unexpected token in the NDJSON: {exc}")
        overwrite = parse_qs(url.query).get("overwrite", ["false"])[0] == "true"
        store = self.spaces.setdefault(space, {})
        result = self.rules.check(objects, existing=set(store))
        if result.fatal:
            return self._bad(422 if result.fatal.startswith("Non-unique") else 400, result.fatal)
        errors, done = list(result.errors), []
        for obj in result.imported:
            key = (obj["type"], obj["id"])
            if key in store and not overwrite:
                errors.append({"id": obj["id"], "type": obj["type"], "meta": {"title": obj["attributes"].get("title")},
                               "error": {"type": "conflict"}})
                continue
            store[key] = obj
            done.append({"id": obj["id"], "type": obj["type"], "meta": {"title": obj["attributes"].get("title")},
                         **({"overwrite": True} if overwrite else {})})
        return 200, {"success": not errors, "successCount": len(done), "successResults": done, "errors": errors}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
