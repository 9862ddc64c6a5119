"""A threaded HTTP proxy on 127.0.0.1 in front of one upstream server (moto, here).

Fault-injecting proxies subclass it and decide per request in ``answer``: forward the call
unchanged, rewrite it, or answer in the upstream's place.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

Answer = tuple[int, list, bytes]
_HOP_HEADERS = ("content-length", "transfer-encoding", "connection", "date", "server")


class LoopbackProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def do_POST(self) -> None:
                proxy._handle(self, "POST")

            def do_GET(self) -> None:
                proxy._handle(self, "GET")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """The (status, headers, body) to send back; by default the upstream's own answer."""
        return self.forward(method, path, headers, body)

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            headers = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
            headers["Content-Length"] = str(len(body))
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        body = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        status, out_headers, out = self.answer(method, req.path, dict(req.headers.items()), body)
        req.send_response(status)
        for k, v in out_headers:
            if k.lower() not in _HOP_HEADERS:
                req.send_header(k, v)
        req.send_header("Content-Length", str(len(out)))
        req.end_headers()
        req.wfile.write(out)
