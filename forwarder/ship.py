"""Shippers behind one interface: Kinesis Data Streams, a local spool, stdout, null.

``send(records, deadline)`` returns the records it could not ship, each with its reason; the
handler turns those into ``batchItemFailures`` or dead-letter messages, so every line is either
shipped or reported. ``records`` is an iterable the handler fills as it reads the events: a
shipper sends as records come (Kinesis: a PutRecords call as soon as one is full) and keeps
only what it must retry or report. Kinesis specifics: PutRecords takes ≤ 500 records and ≤ 5 MiB (data +
keys) per call and ≤ 1 MiB per record; a call can partly fail (throttled shards), and only the
failed subset is retried, with exponential backoff and full jitter, while the invocation has
time left. A retried record lands after records of its key that succeeded in the same call;
the pipeline orders lines by event time, so that reordering is harmless.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any, Callable

from forwarder import aws
from forwarder.records import Record
from pipeline.aws_errors import SERVER_CODES, THROTTLE_CODES

MAX_CALL_RECORDS = 500
MAX_CALL_BYTES = 5 << 20
MAX_RECORD_BYTES = 1 << 20

# Error codes worth retrying: throttling and transient service and KMS faults (one home: pipeline.aws_errors).
RETRYABLE = THROTTLE_CODES | SERVER_CODES


class Deadline:
    """Time left in this invocation, minus a reserve kept for dead-lettering and returning."""

    def __init__(self, context: Any, reserve_ms: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        remaining = context.get_remaining_time_in_millis() if hasattr(context, "get_remaining_time_in_millis") else None
        budget = (remaining - reserve_ms) if remaining is not None else 15 * 60 * 1000
        self.end = clock() + max(0, budget) / 1000.0

    def remaining_ms(self) -> float:
        return max(0.0, (self.end - self.clock()) * 1000.0)


@dataclass
class ShipStats:
    records: int = 0
    bytes: int = 0
    calls: int = 0
    retries: int = 0
    throttled: int = 0
    errors: dict[str, int] = field(default_factory=dict)


Failed = list[tuple[Record, str]]


class Shipper:
    """The interface: ``send`` ships what it can and returns the rest with the reason."""

    name = "shipper"
    max_record_bytes: int | None = None   # None: a record may hold a whole payload
    compress = False

    def send(self, records: Iterable[Record], deadline: Deadline, stats: ShipStats) -> Failed:
        raise NotImplementedError


def _shippable(records: Iterable[Record], failed: Failed) -> Iterable[Record]:
    """The records that can be shipped; the others go to ``failed`` with their reason."""
    for r in records:
        if r.error is None:
            yield r
        else:
            failed.append((r, r.error))


class KinesisShipper(Shipper):
    name = "kinesis"

    def __init__(self, stream: str, *, compress: bool = False, max_record_bytes: int = 1_000_000,
                 max_attempts: int = 8, backoff_base_ms: int = 50, backoff_cap_ms: int = 2000,
                 region: str | None = None, endpoint_url: str | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.target = {"StreamARN": stream} if stream.startswith("arn:") else {"StreamName": stream}
        self.compress, self.max_record_bytes = compress, min(max_record_bytes, MAX_RECORD_BYTES)
        self.max_attempts, self.base_ms, self.cap_ms = max_attempts, backoff_base_ms, backoff_cap_ms
        self.region, self.endpoint_url, self.sleep = region, endpoint_url, sleep
        self.slowest_call_ms = 50.0

    def send(self, records: Iterable[Record], deadline: Deadline, stats: ShipStats) -> Failed:
        failed: Failed = []
        reasons: dict[int, str] = {}
        pending: list[Record] = []
        for call in _calls(_shippable(records, failed)):  # first attempt: each call as soon as it fills
            pending.extend(self._attempt(call, deadline, stats, reasons, failed))
        attempt = 1
        while pending:
            pause_ms = random.uniform(0, min(self.cap_ms, self.base_ms * (2 ** attempt)))
            if attempt >= self.max_attempts or deadline.remaining_ms() < pause_ms + self.slowest_call_ms:
                why = "attempts exhausted" if attempt >= self.max_attempts else "out of time"
                failed.extend((r, f"{reasons.get(id(r), 'failed')} ({why} after {attempt} attempts)")
                              for r in pending)
                break
            stats.retries += len(pending)
            self.sleep(pause_ms / 1000.0)
            attempt += 1
            retry: list[Record] = []
            for call in _calls(pending):
                retry.extend(self._attempt(call, deadline, stats, reasons, failed))
            pending = retry
        return failed

    def _attempt(self, call: list[Record], deadline: Deadline, stats: ShipStats, reasons: dict[int, str],
                 failed: Failed) -> list[Record]:
        """One PutRecords call if time allows; returns the records to retry."""
        if deadline.remaining_ms() < self.slowest_call_ms:
            for r in call:
                reasons.setdefault(id(r), "invocation ran out of time before this record was sent")
            return call
        return self._put(call, stats, reasons, failed)

    def _put(self, call: list[Record], stats: ShipStats, reasons: dict[int, str], failed: Failed) -> list[Record]:
        """One PutRecords call; returns the records to retry, appends hard failures to ``failed``."""
        started = time.monotonic()
        stats.calls += 1
        try:
            resp = aws.client("kinesis", self.region, self.endpoint_url).put_records(
                Records=[{"Data": r.data, "PartitionKey": r.key} for r in call], **self.target)
        except Exception as exc:  # botocore ClientError / connection errors: classified below
            code = aws.error_code(exc) or type(exc).__name__
            stats.errors[code] = stats.errors.get(code, 0) + len(call)
            if code in THROTTLE_CODES:
                stats.throttled += len(call)
            retryable = code in RETRYABLE or aws.error_code(exc) is None  # no code: a network error
            if not retryable:
                failed.extend((r, f"PutRecords failed: {code}: {exc}") for r in call)
                return []
            for r in call:
                reasons[id(r)] = f"PutRecords failed: {code}"
            return call
        finally:
            self.slowest_call_ms = max(self.slowest_call_ms, (time.monotonic() - started) * 1000.0)
        retry: list[Record] = []
        for r, res in zip(call, resp.get("Records", [])):
            code = res.get("ErrorCode")
            if code:
                stats.errors[code] = stats.errors.get(code, 0) + 1
                if code in THROTTLE_CODES:
                    stats.throttled += 1
                reasons[id(r)] = f"{code}: {res.get('ErrorMessage', '')}".rstrip(": ")
                if code in RETRYABLE:
                    retry.append(r)
                else:
                    failed.append((r, reasons[id(r)]))
            else:
                stats.records += 1
                stats.bytes += len(r.data)
        if len(resp.get("Records", [])) < len(call):  # a malformed answer: retry what it did not cover
            retry.extend(call[len(resp.get("Records", [])):])
        return retry


def _calls(records: Iterable[Record]) -> Iterable[list[Record]]:
    """PutRecords calls of ≤ 500 records and ≤ 5 MiB, in order, each as soon as it is full."""
    cur: list[Record] = []
    size = 0
    for r in records:
        if cur and (len(cur) >= MAX_CALL_RECORDS or size + r.size > MAX_CALL_BYTES):
            yield cur
            cur, size = [], 0
        cur.append(r)
        size += r.size
    if cur:
        yield cur


class SpoolShipper(Shipper):
    """NDJSON files in a directory: what ``coldtrace run --input DIR`` reads. Written atomically:
    one file per invocation, its records written as they come (gzip members concatenate)."""

    name = "spool"

    def __init__(self, directory: str, compress: bool = False, max_record_bytes: int | None = 1_000_000) -> None:
        self.directory, self.compress, self.max_record_bytes = directory, compress, max_record_bytes

    def send(self, records: Iterable[Record], deadline: Deadline, stats: ShipStats) -> Failed:
        failed: Failed = []
        written: list[Record] = []   # their ids, to report should the file not be completed
        suffix = ".ndjson.gz" if self.compress else ".ndjson"
        path = os.path.join(self.directory, f"spool-{int(time.time() * 1000)}-{os.urandom(6).hex()}{suffix}")
        size = 0
        try:
            with contextlib.ExitStack() as files:
                fh = None
                for r in _shippable(records, failed):
                    if fh is None:  # opened for the first record: no empty file when nothing ships
                        os.makedirs(self.directory, exist_ok=True)
                        fh = files.enter_context(open(path + ".tmp", "wb"))
                    fh.write(r.data)
                    size += len(r.data)
                    written.append(Record(r.key, b"", r.unit, r.ids))
            if written:
                os.replace(path + ".tmp", path)
        except OSError as exc:
            return failed + [(r, f"spool write failed: {exc}") for r in written]
        if written:
            stats.calls += 1
            stats.records += len(written)
            stats.bytes += size
        return failed


class StdoutShipper(Shipper):
    """NDJSON on stdout (or any binary stream): for local runs and piping into ``coldtrace run``."""

    name = "stdout"
    compress = False

    def __init__(self, stream: IO[bytes] | None = None) -> None:
        self.stream = stream

    def send(self, records: Iterable[Record], deadline: Deadline, stats: ShipStats) -> Failed:
        failed: Failed = []
        out = self.stream or sys.stdout.buffer
        for r in _shippable(records, failed):
            out.write(r.data)
            stats.records += 1
            stats.bytes += len(r.data)
        out.flush()
        stats.calls += 1
        return failed


class NullShipper(Shipper):
    """Counts and discards: for benchmarks and dry runs. Built from the settings, it packs and
    compresses as the Kinesis shipper would, so its byte count is what Kinesis would be sent."""

    name = "null"

    def __init__(self, compress: bool = False, max_record_bytes: int | None = None) -> None:
        self.compress, self.max_record_bytes = compress, max_record_bytes

    def send(self, records: Iterable[Record], deadline: Deadline, stats: ShipStats) -> Failed:
        failed: Failed = []
        for r in _shippable(records, failed):
            stats.records += 1
            stats.bytes += len(r.data)
        return failed


def shipper_for(settings: Any) -> Shipper:
    """The shipper the settings name."""
    if settings.shipper == "kinesis":
        return KinesisShipper(settings.stream, compress=settings.compress, max_record_bytes=settings.max_record_bytes,
                              max_attempts=settings.max_attempts, backoff_base_ms=settings.backoff_base_ms,
                              backoff_cap_ms=settings.backoff_cap_ms, region=settings.region,
                              endpoint_url=settings.endpoint_url)
    if settings.shipper == "spool":
        return SpoolShipper(settings.spool_dir, compress=settings.compress)
    if settings.shipper == "stdout":
        return StdoutShipper()
    return NullShipper(compress=settings.compress, max_record_bytes=min(settings.max_record_bytes, MAX_RECORD_BYTES))
