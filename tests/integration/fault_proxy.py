"""An HTTP proxy in front of moto that answers chosen AWS JSON calls with an error instead.

moto never throttles and never expires a shard iterator. ``rule(operation, n)`` sees each
call's operation (``GetRecords``, ``FilterLogEvents``...) and its number among calls of that
operation (from 1), and returns an AWS error code to answer with — HTTP 400 and
``{"__type": code, "message": …}``, what the service answers — or None to forward the call.
"""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

import orjson

Rule = Callable[[str, int], "str | None"]


class FaultProxy:
    def __init__(self, upstream: str, rule: Rule) -> None:
        self.upstream = urlsplit(upstream)
        self.rule = rule
        self.calls: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                proxy._handle(self, "POST")

            def do_GET(self) -> None:
                proxy._handle(self, "GET")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FaultProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        body = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        headers = dict(req.headers.items())
        operation = headers.get("X-Amz-Target", "").rpartition(".")[2]
        with self.lock:
            self.calls[operation] += 1
            n = self.calls[operation]
        code = self.rule(operation, n) if operation else None
        if code is not None:
            with self.lock:
                self.faults[code] += 1
            status, out_headers = 400, [("Content-Type", "application/x-amz-json-1.1")]
            out = orjson.dumps({"__type": code, "message": f"{code} (injected by the test proxy)"})
        else:
            status, out_headers, out = self._forward(method, req.path, headers, body)
        req.send_response(status)
        for k, v in out_headers:
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "server"):
                req.send_header(k, v)
        req.send_header("Content-Length", str(len(out)))
        req.end_headers()
        req.wfile.write(out)

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes):
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            headers = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
            headers["Content-Length"] = str(len(body))
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()
