"""Shippers behind one interface: Kinesis Data Streams, a local spool, stdout, null.

``send(records, deadline)`` returns the records it could not ship, each with its reason; the
handler turns those into ``batchItemFailures`` or dead-letter messages, so every line is either
shipped or reported. Kinesis specifics: PutRecords takes ≤ 500 records and ≤ 5 MiB (data +
keys) per call and ≤ 1 MiB per record; a call can partly fail (throttled shards), and only the
failed subset is retried, with exponential backoff and full jitter, while the invocation has
time left. A retried record lands after records of its key that succeeded in the same call;
the pipeline orders lines by event time, so that reordering is harmless.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable

from forwarder import aws
from forwarder.records import Record

MAX_CALL_RECORDS = 500
MAX_CALL_BYTES = 5 << 20
MAX_RECORD_BYTES = 1 << 20

# Error codes worth retrying: throttling, transient service and KMS faults.
RETRYABLE = frozenset((
    "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling", "LimitExceededException",
    "InternalFailure", "InternalFailureException", "ServiceUnavailable", "ServiceUnavailableException",
    "KMSThrottlingException", "KMSInternalException", "RequestTimeout", "RequestTimeoutException",
))
THROTTLES = frozenset(("ProvisionedThroughputExceededException", "ThrottlingException", "Throttling",
                       "LimitExceededException", "KMSThrottlingException"))


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

    def send(self, records: list[Record], deadline: Deadline, stats: ShipStats) -> Failed:
        raise NotImplementedError


def _unshippable(records: list[Record]) -> tuple[list[Record], Failed]:
    ok = [r for r in records if r.error is None]
    return ok, [(r, r.error) for r in records if r.error is not None]  # type: ignore[misc]


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

    def send(self, records: list[Record], deadline: Deadline, stats: ShipStats) -> Failed:
        pending, failed = _unshippable(records)
        reasons: dict[int, str] = {}
        attempt = 0
        while pending:
            attempt += 1
            retry: list[Record] = []
            for call in _calls(pending):
                if deadline.remaining_ms() < self.slowest_call_ms:
                    retry.extend(call)
                    for r in call:
                        reasons.setdefault(id(r), "invocation ran out of time before this record was sent")
                    continue
                retry.extend(self._put(call, stats, reasons, failed))
            if not retry:
                break
            import random  # only a retry needs it: 1 ms off the cold start of every invocation

            pause_ms = random.uniform(0, min(self.cap_ms, self.base_ms * (2 ** attempt)))
            if attempt >= self.max_attempts or deadline.remaining_ms() < pause_ms + self.slowest_call_ms:
                why = "attempts exhausted" if attempt >= self.max_attempts else "out of time"
                failed.extend((r, f"{reasons.get(id(r), 'failed')} ({why} after {attempt} attempts)") for r in retry)
                break
            stats.retries += len(retry)
            self.sleep(pause_ms / 1000.0)
            pending = retry
        return failed

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
            if code in THROTTLES:
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
                if code in THROTTLES:
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


def _calls(records: list[Record]) -> list[list[Record]]:
    """Split into PutRecords calls of ≤ 500 records and ≤ 5 MiB, keeping order."""
    calls: list[list[Record]] = []
    cur: list[Record] = []
    size = 0
    for r in records:
        if cur and (len(cur) >= MAX_CALL_RECORDS or size + r.size > MAX_CALL_BYTES):
            calls.append(cur)
            cur, size = [], 0
        cur.append(r)
        size += r.size
    if cur:
        calls.append(cur)
    return calls


class SpoolShipper(Shipper):
    """NDJSON files in a directory: what ``coldtrace run --input DIR`` reads. Written atomically."""

    name = "spool"
    max_record_bytes = None

    def __init__(self, directory: str, compress: bool = False) -> None:
        self.directory, self.compress = directory, compress

    def send(self, records: list[Record], deadline: Deadline, stats: ShipStats) -> Failed:
        records, failed = _unshippable(records)
        if not records:
            return failed
        suffix = ".ndjson.gz" if self.compress else ".ndjson"
        name = f"spool-{int(time.time() * 1000)}-{os.urandom(6).hex()}{suffix}"
        path = os.path.join(self.directory, name)
        try:
            os.makedirs(self.directory, exist_ok=True)
            with open(path + ".tmp", "wb") as fh:
                for r in records:
                    fh.write(r.data)
            os.replace(path + ".tmp", path)
        except OSError as exc:
            return failed + [(r, f"spool write failed: {exc}") for r in records]
        stats.calls += 1
        stats.records += len(records)
        stats.bytes += sum(len(r.data) for r in records)
        return failed


class StdoutShipper(Shipper):
    """NDJSON on stdout (or any binary stream): for local runs and piping into ``coldtrace run``."""

    name = "stdout"
    max_record_bytes = None
    compress = False

    def __init__(self, stream: IO[bytes] | None = None) -> None:
        self.stream = stream

    def send(self, records: list[Record], deadline: Deadline, stats: ShipStats) -> Failed:
        records, failed = _unshippable(records)
        out = self.stream or sys.stdout.buffer
        for r in records:
            out.write(r.data)
            stats.records += 1
            stats.bytes += len(r.data)
        out.flush()
        stats.calls += 1
        return failed


class NullShipper(Shipper):
    """Counts and discards: for benchmarks and dry runs."""

    name = "null"
    max_record_bytes = None
    compress = False

    def send(self, records: list[Record], deadline: Deadline, stats: ShipStats) -> Failed:
        records, failed = _unshippable(records)
        stats.records += len(records)
        stats.bytes += sum(len(r.data) for r in records)
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
    return NullShipper()
