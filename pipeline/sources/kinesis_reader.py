"""Reading one Kinesis shard, decoding its records, and the arrival-time watermark. Pure.

``ShardReader`` owns a shard iterator: it gets one from its cursor (and a fresh one when the
iterator expires after five minutes: AFTER_SEQUENCE_NUMBER of the last record committed), retries
transient faults of GetShardIterator and GetRecords as ``pipeline.sources.aws_retry`` decides
(throttling, HTTP 5xx, connection resets, timeouts; capped, jittered backoff; bounded, then one
error naming the shard and the last fault), and tells when the shard is read to its tip (``MillisBehindLatest`` 0) or to its end (a closed shard:
``NextShardIterator`` is null — or, where an emulator keeps returning an iterator, an empty
page from a shard the listing shows closed).

A record holds either the forwarder's NDJSON of ``LogEvent.to_record()`` (optionally gzip) or
a CloudWatch Logs subscription payload (a gzip DATA_MESSAGE, as a subscription filter with a
Kinesis destination writes it); ``pipeline.sources.formats.read_stream`` reads both.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Any, Callable

from pipeline.aws_errors import THROTTLED
from pipeline.model import DeadLetter, LogEvent, stream_key
from pipeline.sources.aws_retry import Backoff, Retry, call_with_backoff
from pipeline.sources.delivery_delay import FLOOR_MS, DelayWindow, shard_hold_ms, watermark_ms
from pipeline.sources.formats import read_stream
from pipeline.sources.kinesis_shards import Cursor, StartPosition

GET_RECORDS_LIMIT = 10_000  # the service maximum; a page is also capped at 10 MB
LATEST_PIN_MARGIN_MS = 5_000   # when the service's clock is unknown


@dataclass(slots=True)
class Page:
    """One GetRecords answer for one shard."""

    shard_id: str
    records: list[dict[str, Any]]
    millis_behind: int | None
    at_tip: bool          # nothing newer was waiting when the call was answered
    ended: bool           # a closed shard read to its end: continue with its children
    called_ms: int        # when the call was made (the shard's watermark when at its tip)


def _server_ms(resp: dict[str, Any]) -> int | None:
    """The service's clock, from the answer's HTTP Date header."""

    date = resp.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        return int(parsedate_to_datetime(date).timestamp() * 1000) if date else None
    except (TypeError, ValueError):
        return None


def arrival_ms(record: dict[str, Any]) -> int:
    """ApproximateArrivalTimestamp (a datetime from boto3, a number in raw JSON) in ms."""
    ts = record.get("ApproximateArrivalTimestamp")
    if ts is None:
        return 0
    if hasattr(ts, "timestamp"):
        return int(ts.timestamp() * 1000)
    return int(float(ts) * 1000)


class ShardReader:
    """Reads one shard from a cursor; ``cursor`` advances as records are committed."""

    def __init__(self, client: Any, stream: str, cursor: Cursor, *, closed: bool = False,
                 limit: int = GET_RECORDS_LIMIT, backoff: Backoff | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time) -> None:
        self.client, self.cursor, self.closed, self.limit = client, cursor, closed, limit
        self.target = {"StreamARN": stream} if stream.startswith("arn:") else {"StreamName": stream}
        self.backoff, self.sleep, self.clock = backoff or Backoff(), sleep, clock
        self.iterator: str | None = None
        self.pinned = False   # the cursor's LATEST start was just pinned to a time
        self.throttled = 0    # GetRecords/GetShardIterator calls answered with a throttling error
        self.faults: dict[str, int] = {}   # transient faults retried, by kind (aws_errors.fault_kind)
        self.calls = 0
        self.what = f"Kinesis shard {cursor.shard_id} of stream {stream}"

    def _fault(self, retry: Retry) -> None:
        """A transient fault, about to be retried: count it; an expired iterator is renewed from
        the cursor, which holds the last sequence number committed (nothing lost, nothing twice)."""
        self.faults[retry.kind] = self.faults.get(retry.kind, 0) + 1
        if retry.kind == THROTTLED:
            self.throttled += 1
        if retry.renew_iterator:
            self.iterator = None

    def _new_iterator(self) -> str:
        asked = int(self.clock() * 1000)
        resp = self.client.get_shard_iterator(**self.target, **self.cursor.iterator_args())
        if self.cursor.after is None and self.cursor.start.kind == "LATEST":
            # Pin "latest" to a time, so a split or saved cursor taken before any record arrived resumes
            # here rather than at a later "latest" (which would skip what arrived in between).
            # The time is the service's (its Date header, to the second, less a second), so a
            # skewed local clock cannot skip records; a record read twice is harmless anyway.
            served = _server_ms(resp)
            pin = served - 1000 if served is not None else asked - LATEST_PIN_MARGIN_MS
            self.cursor = replace(self.cursor, start=StartPosition("AT_TIMESTAMP", pin))
            self.pinned = True
        return resp["ShardIterator"]

    def _get_records(self) -> tuple[int, dict[str, Any]]:
        """One attempt: an iterator if there is none (GetShardIterator), then GetRecords."""
        if self.iterator is None:
            self.iterator = self._new_iterator()
        called = int(self.clock() * 1000)
        self.calls += 1
        return called, self.client.get_records(ShardIterator=self.iterator, Limit=self.limit)

    def read(self) -> Page:
        """One page, transient faults retried (a GetRecords retried after a lost answer reuses its
        iterator, which gives the same records: the cursor moves only on commit)."""
        called, resp = call_with_backoff(self._get_records, self.backoff, self.sleep, self._fault, what=self.what)
        records = resp.get("Records") or []
        behind = resp.get("MillisBehindLatest")
        nxt = resp.get("NextShardIterator")
        self.iterator = nxt
        ended = nxt is None or (self.closed and not records and not behind)
        return Page(self.cursor.shard_id, records, behind, at_tip=not behind, ended=ended, called_ms=called)

    def commit(self, seq: str) -> None:
        self.cursor = self.cursor.advanced(seq)


# -- decoding ---------------------------------------------------------------------------------

@dataclass(slots=True)
class Decoded:
    """The log events of some records, in one batch per log stream, and what could not be read."""

    batches: list[list[LogEvent]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    events: int = 0
    records: int = 0
    oldest_arrival_ms: int | None = None
    newest_arrival_ms: int | None = None


def decode_records(records: list[dict[str, Any]], source: str, account: str | None = None,
                   region: str | None = None, delays: DelayWindow | None = None) -> Decoded:
    """Records of one shard → per-stream batches (events of a stream gathered across records).

    An event with no arrival time takes its record's ApproximateArrivalTimestamp. ``delays``
    (the shard's) observes each record's delivery delays: its arrival less its lines' timestamps."""
    out = Decoded()
    by_stream: dict[str, list[LogEvent]] = {}
    for rec in records:
        arrived = arrival_ms(rec)
        out.records += 1
        if out.oldest_arrival_ms is None or arrived < out.oldest_arrival_ms:
            out.oldest_arrival_ms = arrived
        if out.newest_arrival_ms is None or arrived > out.newest_arrival_ms:
            out.newest_arrival_ms = arrived
        where = f"{source}/{rec.get('SequenceNumber')}"
        for item in read_stream(io.BytesIO(rec["Data"]), where, account, region):
            if isinstance(item, DeadLetter):
                item.time_ms = arrived  # the record's arrival, so a re-read gives the same document
                out.dead.append(item)
                continue
            for ev in item:
                if ev.arrival_ms is None:
                    ev.arrival_ms = arrived
                by_stream.setdefault(stream_key(ev), []).append(ev)
            if delays is not None and arrived and item:
                delays.observe(arrived, (ev.timestamp for ev in item))
            out.events += len(item)
    out.batches = list(by_stream.values())
    return out


# -- watermark --------------------------------------------------------------------------------

class ArrivalWatermark:
    """Event-time watermark from ApproximateArrivalTimestamp, over the shards being read.

    A shard's mark is the arrival time up to which it has been read: the newest arrival seen,
    or the time of a call that found it at its tip (everything that arrived before was read).
    Each shard's mark is held back by the delivery delay measured on it
    (``pipeline.sources.delivery_delay``: the p99 of its recent records' arrival − event time,
    within [``floor_ms``, ``delay_ms``]; ``delay_ms`` until enough was measured). The
    watermark is the lowest held-back mark, and never goes back. ``delays`` (per shard) is the
    measured state; the caller keeps it between reads (the endless graph's watermark estimator
    state, the catch-up loop's checkpoint).
    """

    def __init__(self, delay_ms: int = 60_000, start_ms: int | None = None,
                 delays: dict[str, DelayWindow] | None = None, floor_ms: int = FLOOR_MS) -> None:
        self.delay_ms, self.floor_ms = delay_ms, floor_ms
        self.marks: dict[str, int | None] = {}
        self.delays: dict[str, DelayWindow] = delays if delays is not None else {}
        self.value: int | None = start_ms

    def track(self, shard_id: str, mark_ms: int | None = None, delays: DelayWindow | None = None) -> None:
        """Read ``shard_id`` too; a child shard starts from its parent's mark and delays."""
        self.marks.setdefault(shard_id, mark_ms)
        if delays is not None and shard_id not in self.delays:
            self.delays[shard_id] = DelayWindow().merge(delays)

    def window(self, shard_id: str) -> DelayWindow:
        """The shard's measured delays (observed in place as its records are decoded)."""
        found = self.delays.get(shard_id)
        if found is None:
            found = self.delays[shard_id] = DelayWindow()
        return found

    def observe(self, page: Page, newest_arrival_ms: int | None) -> None:
        mark = page.called_ms if page.at_tip else newest_arrival_ms
        old = self.marks.get(page.shard_id)
        if mark is not None and (old is None or mark > old):
            self.marks[page.shard_id] = mark

    def hold_ms(self, shard_id: str) -> int:
        """How far the shard's mark is held back now."""
        return shard_hold_ms(self.delays.get(shard_id), self.delay_ms, self.floor_ms)

    def drop(self, shard_id: str) -> DelayWindow | None:
        """Stop reading ``shard_id``; returns its measured delays (for its children)."""
        self.marks.pop(shard_id, None)
        return self.delays.pop(shard_id, None)

    def advance(self) -> int | None:
        """The watermark after what was observed (None until every tracked shard has a mark)."""
        low = watermark_ms(self.marks, {s: self.hold_ms(s) for s in self.marks})
        if low is not None and (self.value is None or low > self.value):
            self.value = low
        return self.value


# -- reading a set of shards ------------------------------------------------------------------

# claim(kind, shard id, value) -> bool: kind "record" (value: sequence number), "end" (value:
# the child cursors that take the shard's place), "park" (bounded reads: the shard is at its
# tip) or "pin" (value: the cursor with its LATEST start pinned to a time).
Claim = Callable[[str, str, Any], bool]


@dataclass(slots=True)
class Step:
    """What one GetRecords page of one shard gave."""

    shard_id: str
    decoded: Decoded
    cursor: Cursor              # the shard's cursor after the page
    mark_ms: int | None         # arrival time up to which the shard was read
    throttled: int = 0
    hold_ms: int | None = None  # how far the shard's watermark trails its mark (measured delay)
    delays: DelayWindow | None = None   # the shard's measured delivery delays after the page
    records_read: int = 0       # records read from the shard so far in this loop
    retried: int = 0            # transient faults retried for this page (throttling included)
    ended: bool = False         # read to its end; ``children`` continue it
    parked: bool = False        # bounded read: at its tip, stopped
    children: list[Cursor] = field(default_factory=list)


class ShardsLoop:
    """Reads shards round-robin from cursors, claiming every record before it is emitted.

    Bounded: every shard is read to its tip (parked) or end (its children are read next).
    Unbounded: reads while there is data, for at most ``max_read_s``; shards at their tip rest
    ``idle_poll_s`` between calls; ``remaining`` says what is left to resume. A failed claim
    means the runner split the shard off: it is dropped here, and resumed elsewhere
    right after the last claimed record.
    """

    def __init__(self, client: Any, stream: str, cursors: list[Cursor], claim: Claim, *, bounded: bool,
                 watermark: ArrivalWatermark, list_shards: Callable[[], list[Any]],
                 account: str | None = None, region: str | None = None, limit: int = GET_RECORDS_LIMIT,
                 max_read_s: float = 5.0, idle_poll_s: float = 1.0, backoff: Backoff | None = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client, self.stream, self.claim, self.bounded = client, stream, claim, bounded
        self.watermark, self.list_shards = watermark, list_shards
        self.account, self.region, self.limit = account, region, limit
        self.max_read_s, self.idle_poll_s, self.clock, self.sleep = max_read_s, idle_poll_s, clock, sleep
        self.backoff = backoff
        self.faults: dict[str, int] = {}    # transient faults retried, by kind, over every shard
        self.readers: dict[str, ShardReader] = {}
        self.rest_until: dict[str, float] = {}
        self.oldest_arrival_ms: int | None = None
        self.records_read: dict[str, int] = {}
        self._closed = {s.id for s in list_shards() if s.closed}
        for cursor in cursors:
            self._open(cursor, None)

    @property
    def remaining(self) -> bool:
        return bool(self.readers)

    @property
    def caught_up(self) -> bool:
        return bool(self.readers) and len(self.rest_until) == len(self.readers)

    def _open(self, cursor: Cursor, mark: int | None, delays: DelayWindow | None = None) -> None:
        self.readers[cursor.shard_id] = ShardReader(self.client, self.stream, cursor, limit=self.limit,
                                                    closed=cursor.shard_id in self._closed, clock=self.clock,
                                                    sleep=self.sleep, backoff=self.backoff)
        self.watermark.track(cursor.shard_id, mark, delays)

    def _drop(self, sid: str) -> tuple[int | None, DelayWindow | None]:
        del self.readers[sid]
        self.rest_until.pop(sid, None)
        mark = self.watermark.marks.get(sid)
        return mark, self.watermark.drop(sid)

    def run(self):
        """Yields a ``Step`` per page read; returns when done (bounded) or out of time or data."""
        started = self.clock()
        while self.readers:
            now = self.clock()
            if not self.bounded and now - started >= self.max_read_s:
                return
            due = [sid for sid in self.readers if self.rest_until.get(sid, 0.0) <= now]
            if not due:
                if not self.bounded:
                    return        # every shard is at its tip: the runner resumes us after a pause
                self.sleep(0.2)
                continue
            for sid in due:
                step = self._read(sid)
                if step is not None:
                    yield step

    def _read(self, sid: str) -> Step | None:
        reader = self.readers[sid]
        page = reader.read()
        if reader.pinned:
            reader.pinned = False
            if not self.claim("pin", sid, reader.cursor):
                self._drop(sid)
                return None
        claimed: list[dict[str, Any]] = []
        handed_over = False
        for rec in page.records:
            if not self.claim("record", sid, rec["SequenceNumber"]):
                handed_over = True    # split off by the runner: the rest is read elsewhere
                break
            reader.commit(rec["SequenceNumber"])
            claimed.append(rec)
        decoded = decode_records(claimed, f"kinesis://{self.stream}/{sid}", self.account, self.region,
                                 self.watermark.window(sid))
        if decoded.oldest_arrival_ms is not None:
            old = self.oldest_arrival_ms
            self.oldest_arrival_ms = decoded.oldest_arrival_ms if old is None else min(old, decoded.oldest_arrival_ms)
        if not handed_over:
            self.watermark.observe(page, decoded.newest_arrival_ms)
        self.records_read[sid] = self.records_read.get(sid, 0) + len(claimed)
        step = Step(sid, decoded, reader.cursor, self.watermark.marks.get(sid), reader.throttled,
                    self.watermark.hold_ms(sid), self.watermark.delays.get(sid), self.records_read[sid],
                    sum(reader.faults.values()))
        for kind, n in reader.faults.items():
            self.faults[kind] = self.faults.get(kind, 0) + n
        reader.throttled = 0
        reader.faults = {}
        if handed_over:
            self._drop(sid)           # what was claimed is still emitted, with this step
        elif page.ended:
            shards = self.list_shards()
            self._closed = {s.id for s in shards if s.closed}
            step.children = [Cursor(s.id, start=reader.cursor.start.for_children())
                             for s in shards if s.parent == sid]
            self.claim("end", sid, tuple(step.children))
            step.ended = True
            mark, delays = self._drop(sid)
            for child in step.children:
                self._open(child, mark, delays)
        elif page.at_tip and reader.closed:
            self.rest_until.pop(sid, None)   # a closed shard at its tip: the next (empty) page ends it
        elif page.at_tip:
            if self.bounded:
                self.claim("park", sid, None)
                step.parked = True
                self._drop(sid)
            else:
                self.rest_until[sid] = self.clock() + self.idle_poll_s
        else:
            self.rest_until.pop(sid, None)
            if not page.records:
                self.rest_until[sid] = self.clock() + 0.2   # behind, but an empty page: 5 calls/s/shard
        return step
