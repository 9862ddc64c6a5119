"""A fault-injecting HTTP proxy in front of moto's server, for Kinesis PutRecords.

moto never throttles. This proxy forwards every request unchanged, except PutRecords calls,
from which it removes the records it chooses to fail (so moto never stores them) and answers
with moto's result for the others merged with ``ProvisionedThroughputExceededException``
entries for the failed ones — exactly what a throttled shard answers.
"""

from __future__ import annotations

import base64
from typing import Callable

import orjson

from tests.integration.loopback_proxy import Answer, LoopbackProxy

# (call number from 1, index in the call, partition key, record data) -> fail this record?
FailRule = Callable[[int, int, str, bytes], bool]

THROTTLED = {"ErrorCode": "ProvisionedThroughputExceededException",
             "ErrorMessage": "Rate exceeded for shard shardId-000000000000 in stream (injected by the test proxy)."}


class ThrottlingProxy(LoopbackProxy):
    def __init__(self, upstream: str, rule: FailRule) -> None:
        super().__init__(upstream)
        self.rule = rule
        self.calls = 0
        self.failed = 0

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if headers.get("X-Amz-Target", "").endswith(".PutRecords"):
            return self._put_records(path, headers, body)
        return self.forward(method, path, headers, body)

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
            status, out_headers, out = self.forward("POST", path, headers, orjson.dumps(dict(request, Records=keep)))
            if status != 200:
                return status, out_headers, out
            moto_results = orjson.loads(out)["Records"]
        it = iter(moto_results)
        merged = [dict(THROTTLED) if f else next(it) for f in fail]
        with self.lock:
            self.failed += sum(fail)
        return status, out_headers, orjson.dumps({"FailedRecordCount": sum(fail), "Records": merged})
