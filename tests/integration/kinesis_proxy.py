"""A fault-injecting HTTP proxy in front of moto's server, for Kinesis PutRecords.

moto never throttles. This proxy forwards every request unchanged, except PutRecords calls,
from which it removes the records it chooses to fail (so moto never stores them) and answers
with moto's result for the others merged with ``ProvisionedThroughputExceededException``
entries for the failed ones — exactly what a throttled shard answers.
"""

from __future__ import annotations

import base64
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

import orjson

# (call number from 1, index in the call, partition key, record data) -> fail this record?
FailRule = Callable[[int, int, str, bytes], bool]

THROTTLED = {"ErrorCode": "ProvisionedThroughputExceededException",
             "ErrorMessage": "Rate exceeded for shard shardId-000000000000 in stream (injected by the test proxy)."}


class ThrottlingProxy:
    def __init__(self, upstream: str, rule: FailRule) -> None:
        self.upstream = urlsplit(upstream)
        self.rule = rule
        self.calls = 0
        self.failed = 0
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

    def __enter__(self) -> "ThrottlingProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
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
        headers = dict(req.headers.items())
        target = headers.get("X-Amz-Target", "")
        if target.endswith(".PutRecords"):
            status, out_headers, out = self._put_records(req.path, headers, body)
        else:
            status, out_headers, out = self._forward(method, req.path, headers, body)
        req.send_response(status)
        for k, v in out_headers:
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                req.send_header(k, v)
        req.send_header("Content-Length", str(len(out)))
        req.end_headers()
        req.wfile.write(out)

    def _put_records(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
        request = orjson.loads(body)
        records = request["Records"]
        with self.lock:
            self.calls += 1
            call = self.calls
        fail = [self.rule(call, i, r["PartitionKey"], base64.b64decode(r["Data"])) for i, r in enumerate(records)]
        keep = [r for r, f in zip(records, fail) if not f]
        moto_results: list[dict] = []
        status, out_headers = 200, [("Content-Type", "application/x-amz-json-1.1")]
        if keep:
            status, out_headers, out = self._forward("POST", path, headers, orjson.dumps(dict(request, Records=keep)))
            if status != 200:
                return status, out_headers, out
            moto_results = orjson.loads(out)["Records"]
        it = iter(moto_results)
        merged = [dict(THROTTLED) if f else next(it) for f in fail]
        with self.lock:
            self.failed += sum(fail)
        return status, out_headers, orjson.dumps({"FailedRecordCount": sum(fail), "Records": merged})
