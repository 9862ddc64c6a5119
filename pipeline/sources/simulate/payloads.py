"""Shipping: a log stream's events leave in CloudWatch Logs subscription payloads (DATA_MESSAGE
batches of one stream, a CONTROL_MESSAGE now and then, a few delivered twice), each encoded as
base64(gzip(json)) under `awslogs.data`, one per line of a payload file.
"""

from __future__ import annotations

import base64
import heapq
import random
import zlib
from typing import TYPE_CHECKING, Iterator

import orjson

if TYPE_CHECKING:
    from pipeline.sources.simulate.environments import _Instance

CONTROL_MESSAGE = "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."
SUBSCRIPTION_FILTER = "coldtrace"
GZIP_LEVEL = 3
FLUSH_AGE_MS = 2_000      # a stream's events wait this long before CloudWatch ships them
SHIP_TICK_MS = 1_000     # how often the simulated CloudWatch looks for streams ready to ship
MAX_PAYLOAD_BYTES = 256_000


def _encode(payload: dict) -> bytes:
    # zlib's gzip container (wbits=31) has no timestamp in its header: same input, same bytes
    return base64.b64encode(zlib.compress(orjson.dumps(payload), GZIP_LEVEL, wbits=31))


def encode_payload(payload: dict) -> str:
    """base64(gzip(json)): the `awslogs.data` string of a subscription delivery."""
    return _encode(payload).decode()


def _payload_line(payload: dict) -> bytes:
    return b'{"awslogs":{"data":"' + _encode(payload) + b'"}}\n'


def _control(ms: int) -> dict:
    return {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
            "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": ms, "message": CONTROL_MESSAGE}]}


class _Shipping:
    """Ships the fleet's streams (a mixin of _Fleet: uses its config, specs, open streams, batch rng
    and counts, and `_shipments` of the engine)."""

    def _flush(self, inst: _Instance, until: float) -> Iterator[tuple[int, dict]]:
        """Ship the stream's events up to `until` as payloads of at most ~100-300 events."""
        events = inst.events
        n = 0
        while n < len(events) and events[n][0] <= until:
            n += 1
        spec = self.specs[inst.function]
        i = 0
        while i < n:
            cap, size, batch = self.brng.randint(100, 300), 0, []
            while i < n and len(batch) < cap and size < MAX_PAYLOAD_BYTES:
                ms, message = events[i]
                self.events += 1
                batch.append({"id": f"3{ms:015d}{self.c.seed % 1_000_000:06d}{self.events:034d}",
                              "timestamp": ms, "message": message})
                size += len(message)
                i += 1
            yield inst.file_no, {"messageType": "DATA_MESSAGE", "owner": self.c.account,
                                 "logGroup": f"/aws/lambda/{spec.name}", "logStream": inst.stream,
                                 "subscriptionFilters": [SUBSCRIPTION_FILTER], "logEvents": batch}
        del events[:n]
        if not events:
            self.open.pop(inst.number, None)

    def _ship_tick(self, now: float) -> Iterator[tuple[int, dict]]:
        ready = [i for i in self.open.values() if i.events[0][0] <= now - FLUSH_AGE_MS]
        ready.sort(key=lambda i: (i.events[0][0], i.number))
        for inst in ready:
            yield from self._flush(inst, now)

    def payloads(self) -> Iterator[tuple[int, dict]]:
        """Every delivery in shipping order; a few data payloads arrive a second time, a bit later."""
        drng = random.Random(f"coldtrace-dup:{self.c.seed}")
        rate = self.c.duplicate_payload_rate
        pending: list = []
        sent = 0
        last = None
        for file_no, payload in self._shipments():
            yield file_no, payload
            sent += 1
            if payload["messageType"] == "DATA_MESSAGE":
                last = (file_no, payload)
                if drng.random() < rate:
                    heapq.heappush(pending, (sent + drng.randint(1, 8), sent, file_no, payload))
            while pending and pending[0][0] <= sent:
                _, _, dup_file, dup = heapq.heappop(pending)
                yield dup_file, dup
                self.duplicates += 1
        for _, _, dup_file, dup in sorted(pending, key=lambda p: p[:2]):
            yield dup_file, dup
            self.duplicates += 1
        if rate > 0 and not self.duplicates and last:     # small fleets still exercise deduplication
            yield last
            self.duplicates += 1
        self.payload_count = sent + self.duplicates
