"""An HTTP proxy in front of moto that answers chosen AWS JSON calls with a fault instead.

moto never throttles, never fails and never expires a shard iterator. ``rule(operation, n)`` sees
each call's operation (``GetRecords``, ``FilterLogEvents``...) and its number among calls of that
operation (from 1), and returns the fault to inject, or None to forward the call:

- an AWS error code (``ExpiredIteratorException``...): HTTP 400 and ``{"__type": code, …}``,
  what the service answers;
- ``http-500``: a bare HTTP 500 page (what a load balancer in the way answers);
- ``http-503``: HTTP 503 with ``{"__type": "ServiceUnavailable"}``;
- ``reset``: the connection is reset (RST) before the call reaches moto;
- ``timeout``: the call reaches moto, then the answer is held back ``stall_s`` seconds (longer
  than the client's read timeout) and the connection closed — an answer lost in the network.
"""

from __future__ import annotations

import socket
import struct
import time
from collections import Counter
from typing import Callable

import orjson

from tests.integration.loopback_proxy import Answer, LoopbackProxy

Rule = Callable[[str, int], "str | None"]
JSON = [("Content-Type", "application/x-amz-json-1.1")]
NETWORK_FAULTS = ("reset", "timeout")


class _Drop(Exception):
    """Raised by ``answer``: no answer at all, the connection goes down."""


class FaultProxy(LoopbackProxy):
    def __init__(self, upstream: str, rule: Rule, stall_s: float = 1.5) -> None:
        super().__init__(upstream)
        self.rule = rule
        self.stall_s = stall_s
        self.calls: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.iterator_types: list[str] = []     # ShardIteratorType of every GetShardIterator forwarded

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        operation = headers.get("X-Amz-Target", "").rpartition(".")[2]
        with self.lock:
            self.calls[operation] += 1
            n = self.calls[operation]
        fault = self.rule(operation, n) if operation else None
        if fault is None:
            if operation == "GetShardIterator":
                with self.lock:
                    self.iterator_types.append(orjson.loads(body).get("ShardIteratorType", ""))
            return self.forward(method, path, headers, body)
        with self.lock:
            self.faults[fault] += 1
        if fault == "reset":
            raise _Drop()
        if fault == "timeout":
            self.forward(method, path, headers, body)   # served upstream, the answer never arrives
            time.sleep(self.stall_s)
            raise _Drop()
        if fault == "http-500":
            return 500, [("Content-Type", "text/html")], b"<html><body>500 Internal Server Error</body></html>"
        if fault == "http-503":
            return 503, JSON, orjson.dumps({"__type": "ServiceUnavailable", "message": "injected by the test proxy"})
        return 400, JSON, orjson.dumps({"__type": fault, "message": f"{fault} (injected by the test proxy)"})

    def _handle(self, req, method: str) -> None:
        try:
            super()._handle(req, method)
        except _Drop:
            # SO_LINGER 0: close() sends a TCP RST, what a reset connection looks like to the client.
            req.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            req.close_connection = True
            req.connection.close()
