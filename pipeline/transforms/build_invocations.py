"""GroupByLogStream and BuildInvocations: the batch shell around the pure stream fold.

Batch runs group every batch of a log stream together (GroupByKey: portable to every runner,
Beam's DaskRunner included, which has no state API), sort and de-duplicate once, then fold.
The de-duplicated stream is also what the logs index is written from, so a payload that
CloudWatch delivered twice is indexed once.
"""

from __future__ import annotations

import traceback
import zlib
from typing import Iterable

import apache_beam as beam
import orjson
from apache_beam.coders import PickleCoder as _PickleCoder
from apache_beam.coders.observable import ObservableMixin
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue

from pipeline.gc_tuning import tune_gc
from pipeline.invocations import StreamFold, dedupe_sorted, fold_sorted, in_event_order
from pipeline.ledger import StreamCounts
from pipeline.model import DeadLetter, Invocation, LogEvent, pack_events, stream_key, unpack_events
from pipeline.parse.awslogs import decode_gzip_json, to_payload
from pipeline.sources.formats import PayloadEvents
from pipeline.windows import DEFAULT_ARCHITECTURE, PENDING_INIT_TTL_MS, UNFINISHED_AFTER_MS, architecture_lookup


class KeyedStream(tuple, ObservableMixin):
    """``(stream key, events)``: a plain pair to every consumer, but Beam's element-size sampling
    takes it as observable and does not encode it. Otherwise each sampled element (a whole log
    stream, thousands of parsed events) is pickled just to be measured, once per transform it
    passes: about 4 % of a batch run. If it ever crosses a stage boundary it is pickled whole,
    as a plain pair would be."""

    def __new__(cls, key: str, events: list[LogEvent]) -> "KeyedStream":
        return super().__new__(cls, (key, events))

    def __init__(self, key: str, events: list[LogEvent]) -> None:
        ObservableMixin.__init__(self)

    def __reduce__(self):
        return KeyedStream, tuple(self)


def _stream_key(batch: list[LogEvent]) -> tuple[str, list[LogEvent]]:
    return stream_key(batch[0]), batch


def by_stream(batch: list[LogEvent]) -> Iterable[list[LogEvent]]:
    """Readers give one-stream batches; a mixed one (hand-made spool) is split, not mis-keyed."""
    key = stream_key(batch[0])
    if all(stream_key(ev) == key for ev in batch):
        return [batch]
    parts: dict[str, list[LogEvent]] = {}
    for ev in batch:
        parts.setdefault(stream_key(ev), []).append(ev)
    return list(parts.values())


def _packed(batch: list[LogEvent]) -> tuple[str, bytes]:
    return stream_key(batch[0]), pack_events(batch)


def _packed_small(batch: list[LogEvent]) -> tuple[str, bytes]:
    """Compact bytes for a shuffle between processes. A whole subscription payload that nothing
    changed travels as CloudWatch compressed it (``P`` + its reader's account and region + the
    gzip bytes): cheaper than packing and deflating its events again."""
    if type(batch) is PayloadEvents and batch.gzip is not None:
        return stream_key(batch[0]), b"P" + orjson.dumps([batch.account, batch.region]) + b"\n" + batch.gzip
    return stream_key(batch[0]), zlib.compress(pack_events(batch), 1)


def _unpacked(blob: bytes) -> list[LogEvent]:
    """Any form of ``_packed``/``_packed_small``: a payload as read starts with ``P``, zlib data
    with 0x78, orjson's array with ``[``."""
    first = blob[:1]
    if first == b"P":
        head, _, gz = blob.partition(b"\n")
        account, region = orjson.loads(head[1:])
        return to_payload(decode_gzip_json(gz), account=account, region=region).events
    return unpack_events(zlib.decompress(blob) if first == b"\x78" else blob)


class _SortStream(beam.DoFn):
    def __init__(self, counts: bool = False) -> None:
        self.dupes = Metrics.counter("coldtrace", "duplicate_events")
        self.counts = counts

    def setup(self) -> None:
        tune_gc()

    def process(self, keyed: tuple[str, Iterable[bytes]]):
        key, packed = keyed
        events = [ev for blob in packed for ev in _unpacked(blob)]
        unique = dedupe_sorted(events)
        if len(unique) != len(events):
            self.dupes.inc(len(events) - len(unique))
        if self.counts:  # the ledger's record of this stream (pipeline.ledger)
            yield StreamCounts(key, events=len(events), unique=len(unique), duplicates=len(events) - len(unique))
        yield KeyedStream(key, unique)


class GroupByLogStream(beam.PTransform):
    """Batches → (stream key, that stream's events in time order, each event once).

    Batches cross the shuffle packed as bytes (``pack_events``), unparsed: parsing after the
    group keeps the parse results out of the shuffle, which is where batch time goes.
    ``counts=True`` also yields one ``pipeline.ledger.StreamCounts`` per stream (``split_ledger``).
    ``compress=True`` is for shuffles that cross processes or machines: a whole subscription
    payload nothing changed travels as CloudWatch gzipped it, any other batch deflated (level 1:
    263 → 48 bytes per event on the simulated fleet). With two FnApiRunner workers it saves
    more than it costs (1M events: 16.6 s → 15.0 s); in one process it does not.
    """

    def __init__(self, counts: bool = False, compress: bool = False) -> None:
        super().__init__()
        self.counts = counts
        self.compress = compress

    def expand(self, batches):
        return (batches
                | "NonEmpty" >> beam.Filter(bool)
                | "OneStreamEach" >> beam.FlatMap(by_stream)
                | "KeyAndPack" >> beam.Map(_packed_small if self.compress else _packed)
                | "GroupByStream" >> beam.GroupByKey()
                | "SortAndDedupe" >> beam.ParDo(_SortStream(self.counts)))


class _Fold(beam.DoFn):
    def __init__(self, architectures: dict[str, str]) -> None:
        self.architectures = architectures
        self.count = Metrics.counter("coldtrace", "invocations")
        self.dead = Metrics.counter("coldtrace", "dead_letters_fold")

    def process(self, keyed: tuple[str, list[LogEvent]]):
        key, events = keyed
        try:
            out = fold_sorted(events, architecture_lookup(self.architectures))
        except Exception as exc:  # a fold bug must not lose the stream: dead-letter it whole
            yield DeadLetter(
                raw="\n".join(ev.message for ev in events)[:1 << 20], stage="build_invocations",
                error=f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=3)}",
                source=key.replace("\x1f", " "), time_ms=events[-1].timestamp if events else None)
            return
        self.count.inc(len(out))
        yield from out


class BuildInvocations(beam.PTransform):
    """(stream key, sorted events) → one Invocation per request, or a DeadLetter for a failed fold."""

    def __init__(self, architectures: dict[str, str] | None = None) -> None:
        super().__init__()
        self.architectures = dict(architectures or {})

    def expand(self, streams):
        return streams | "Fold" >> beam.ParDo(_Fold(self.architectures))


# -- streaming shell -------------------------------------------------------------------------


class _FoldStateful(beam.DoFn):
    """The same fold in keyed state (key: log stream), flushed by an event-time timer.

    An invocation the fold holds for a timeout line after its REPORT (``pipeline.invocations``)
    is released at the end of its batch (one delivery of the stream): Lambda stores that line in
    the REPORT's millisecond, and it comes in the same delivery. Holding it over to a later batch
    would need a timer per invocation, whose output a runner without watermark holds for timers
    (BundleBasedDirectRunner) finds past its minute (docs/architecture.md, "Late signals")."""


    FOLD = ReadModifyWriteStateSpec("fold", _PickleCoder())
    FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)

    def __init__(self, architectures: dict[str, str], unfinished_after_ms: int = UNFINISHED_AFTER_MS) -> None:
        self.architectures = architectures
        self.unfinished_after_ms = unfinished_after_ms
        self.count = Metrics.counter("coldtrace", "invocations")

    def _arch(self, fn: str) -> str:
        return self.architectures.get(fn, DEFAULT_ARCHITECTURE)

    def process(self, keyed: tuple[str, list[LogEvent]], fold_state=beam.DoFn.StateParam(FOLD),
                flush=beam.DoFn.TimerParam(FLUSH)):

        _key, batch = keyed
        fold: StreamFold | None = fold_state.read()
        if fold is None:
            fold = StreamFold()
        done: list[Invocation] = []
        fold.architecture_of = self._arch  # set per call: callables are not pickled into state
        for ev in in_event_order(batch):
            done.extend(fold.add(ev))
        done.extend(fold.release())
        fold.architecture_of = None
        fold_state.write(fold)
        if fold.last_ms is not None:
            flush.set((fold.last_ms + self.unfinished_after_ms) / 1000.0)
        self.count.inc(len(done))
        for inv in done:
            yield TimestampedValue(inv, (inv.start_ms or 0) / 1000.0)

    @on_timer(FLUSH)
    def on_flush(self, due=beam.DoFn.TimestampParam, fold_state=beam.DoFn.StateParam(FOLD),
                 flush=beam.DoFn.TimerParam(FLUSH)):

        fold: StreamFold | None = fold_state.read()
        if fold is None:
            return
        fold.architecture_of = self._arch
        done = fold.flush()
        fold.architecture_of = None
        keep_until_ms = None if fold.last_ms is None else fold.last_ms + PENDING_INIT_TTL_MS
        if fold.pending is not None and keep_until_ms is not None and due.micros // 1000 < keep_until_ms:
            fold_state.write(fold)  # keep an init that is still waiting for its first request, once
            flush.set(keep_until_ms / 1000.0)
        else:
            fold_state.clear()      # what the carried fold does too (pipeline.carry.fold)
        for inv in done:
            yield TimestampedValue(inv, (inv.start_ms or inv.end_ms or 0) / 1000.0)


class BuildInvocationsStreaming(beam.PTransform):
    """Batches (one log stream each) → Invocations, in keyed state; for unbounded sources."""

    def __init__(self, architectures: dict[str, str] | None = None,
                 unfinished_after_ms: int = UNFINISHED_AFTER_MS) -> None:
        super().__init__()
        self.architectures = dict(architectures or {})
        self.unfinished_after_ms = unfinished_after_ms

    def expand(self, batches):
        return (batches
                | "NonEmpty" >> beam.Filter(bool)
                | "OneStreamEach" >> beam.FlatMap(by_stream)
                | "KeyByStream" >> beam.Map(_stream_key)
                | "FoldInState" >> beam.ParDo(_FoldStateful(self.architectures, self.unfinished_after_ms)))
