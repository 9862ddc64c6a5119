"""An HTTP proxy in front of moto that answers chosen AWS JSON calls with an error instead.

moto never throttles and never expires a shard iterator. ``rule(operation, n)`` sees each
call's operation (``GetRecords``, ``FilterLogEvents``...) and its number among calls of that
operation (from 1), and returns an AWS error code to answer with — HTTP 400 and
``{"__type": code, "message": …}``, what the service answers — or None to forward the call.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

import orjson

from tests.integration.loopback_proxy import Answer, LoopbackProxy

Rule = Callable[[str, int], "str | None"]


class FaultProxy(LoopbackProxy):
    def __init__(self, upstream: str, rule: Rule) -> None:
        super().__init__(upstream)
        self.rule = rule
        self.calls: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        operation = headers.get("X-Amz-Target", "").rpartition(".")[2]
        with self.lock:
            self.calls[operation] += 1
            n = self.calls[operation]
        code = self.rule(operation, n) if operation else None
        if code is None:
            return self.forward(method, path, headers, body)
        with self.lock:
            self.faults[code] += 1
        return (400, [("Content-Type", "application/x-amz-json-1.1")],
                orjson.dumps({"__type": code, "message": f"{code} (injected by the test proxy)"}))
