"""Beam source: a Kinesis data stream, read natively in Python (boto3; no Java expansion service).

``ReadShards`` is a splittable DoFn. Its element is a ``KinesisSpec`` (the stream and where to
resume); its restriction a set of shard cursors, split into one restriction per shard. The
tracker claims records by sequence number, so a runner's split resumes each shard right
after the last record emitted; a shard read to its end hands its place over to its children
(resharding). The watermark estimator follows ApproximateArrivalTimestamp, held back per shard
by the delivery delay measured on it (``ArrivalWatermark``, ``pipeline.sources.delivery_delay``;
the measurements are the estimator's state, checkpointed with the restriction). Transient faults (throttling, HTTP 5xx, connection resets, timeouts,
expired iterators) are retried in ``ShardReader`` as ``pipeline.sources.aws_retry`` decides.

Two modes, one DoFn:
- unbounded (FlinkRunner, DataflowRunner, PrismRunner): reads for ``max_read_s``, then defers
  the remainder and is resumed by the runner, forever;
- bounded (``spec.bounded``): reads every shard to its tip and stops, emitting each shard's
  final cursor on the ``progress`` output — the catch-up read that ``coldtrace run --streaming``
  repeats locally, where no runner runs an endless SDF (see pipeline/streaming/catchup.py).

Outputs: batches of one log stream's LogEvents (main), ``dead`` DeadLetters, ``health``
MetricPoints of the pipeline's own iterator age (one per process call: now − the oldest
ApproximateArrivalTimestamp read) and of the delivery delay its watermark was held back by,
``progress`` ShardProgress records (bounded mode).

``ReadKinesis(spec, io="java")`` applies Beam's cross-language ``ReadDataFromKinesis`` instead,
for runners that have a Java expansion service; it downloads a jar on first use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import apache_beam as beam
import boto3
from apache_beam.io.iobase import RestrictionProgress, RestrictionTracker, WatermarkEstimator
from apache_beam.io.kinesis import InitialPositionInStream, ReadDataFromKinesis
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider, WatermarkEstimatorProvider
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Duration, Timestamp
from botocore.config import Config

from pipeline.model import MetricPoint
from pipeline.sources.delivery_delay import DelayWindow
from pipeline.sources.kinesis_reader import ArrivalWatermark, ShardsLoop, decode_records
from pipeline.sources.kinesis_shards import Cursor, StartPosition, list_shards, resume_cursors
from pipeline.windows import DELIVERY_DELAY_MS, PIPELINE_FUNCTION


@dataclass(frozen=True)
class KinesisSpec:
    """What to read: the stream, where to resume (cursors from a checkpoint) and how."""

    stream: str
    start: StartPosition = field(default_factory=StartPosition)
    cursors: tuple[Cursor, ...] = ()      # resume here (empty: from ``start``)
    finished: tuple[str, ...] = ()        # shards already read to their end
    bounded: bool = False                 # stop every shard at its tip
    region: str | None = None
    endpoint_url: str | None = None
    account: str | None = None
    delivery_delay_ms: int = DELIVERY_DELAY_MS   # the most delivery latency the watermark allows for
    # Delivery delays measured so far, per shard (``DelayWindow.to_json``): a catch-up read
    # continues from the checkpoint's; the watermark is held back by them (kinesis_reader.py).
    delays: dict[str, Any] = field(default_factory=dict, hash=False)
    max_read_s: float = 5.0               # unbounded mode: read this long per process call
    idle_poll_s: float = 1.0              # unbounded mode: wait this long when every shard is at its tip
    limit: int = 10_000                   # records per GetRecords call

    def client(self) -> Any:
        # Transient faults are retried by ShardReader (pipeline.sources.aws_retry, counted), not by botocore.
        config = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30)
        return boto3.session.Session().client("kinesis", region_name=self.region, endpoint_url=self.endpoint_url,
                                              config=config)


@dataclass(frozen=True)
class KinesisRestriction:
    """Shard cursors (each one covers its shard from the cursor on, and the shard's children)."""

    cursors: tuple[Cursor, ...]
    bounded: bool = False


@dataclass(frozen=True)
class ShardProgress:
    """Where a bounded read left a shard: parked at its tip (``cursor``) or read to its end."""

    shard_id: str
    cursor: Cursor | None       # None when finished
    finished: bool
    mark_ms: int | None         # arrival time up to which the shard was read
    records: int = 0            # records read from the shard in this read
    throttled: int = 0          # GetRecords calls answered with a throttling error (then retried)
    delays: dict[str, Any] | None = None   # the shard's measured delivery delays (DelayWindow.to_json)


class KinesisTracker(RestrictionTracker):
    """Claims ``("record", shard, seq)``, ``("end", shard, child cursors)``, ``("park", shard, None)``
    and ``("pin", shard, cursor)`` (see ``ShardsLoop``).

    A split at the current position (``try_split(0)``) hands every active cursor, at its last
    claimed sequence number, to the residual; claims on those shards then fail and the reader stops them.
    """

    def __init__(self, restriction: KinesisRestriction) -> None:
        self._restriction = restriction
        self._active: dict[str, Cursor] = {c.shard_id: c for c in restriction.cursors}
        self._claimed = 0

    def current_restriction(self) -> KinesisRestriction:
        return self._restriction

    def active(self) -> dict[str, Cursor]:
        return dict(self._active)

    def try_claim(self, position: tuple[str, str, Any]) -> bool:
        kind, shard_id, value = position
        cursor = self._active.get(shard_id)
        if cursor is None:
            return False
        if kind == "record":
            self._active[shard_id] = cursor.advanced(value)
            self._claimed += 1
        elif kind == "end":
            del self._active[shard_id]
            for child in value:
                self._active.setdefault(child.shard_id, child)
        elif kind == "park":
            del self._active[shard_id]
        elif kind == "pin":
            self._active[shard_id] = value
        else:
            raise ValueError(f"unknown claim {kind!r}")
        return True

    def try_split(self, fraction_of_remainder: float):
        if not self._active:
            return None
        cursors = list(self._active.values())
        if fraction_of_remainder > 0:
            if len(cursors) < 2:
                return None            # one shard cannot be split: it is read in order
            keep, give = cursors[:len(cursors) // 2], cursors[len(cursors) // 2:]
        else:
            keep, give = [], cursors
        for c in give:
            del self._active[c.shard_id]
        primary = replace(self._restriction, cursors=tuple(keep))
        residual = replace(self._restriction, cursors=tuple(give))
        self._restriction = primary
        return primary, residual

    def check_done(self) -> None:
        if self._active:
            raise ValueError(f"shards {sorted(self._active)} were neither read to their tip or end, "
                             "nor split off to the residual")

    def current_progress(self) -> RestrictionProgress:
        return RestrictionProgress(completed=float(self._claimed), remaining=float(len(self._active)))

    def is_bounded(self) -> bool:
        return self._restriction.bounded


class _ShardsProvider(RestrictionProvider):
    def initial_restriction(self, spec: KinesisSpec) -> KinesisRestriction:
        shards = list_shards(spec.client(), spec.stream)
        cursors = resume_cursors(shards, spec.cursors, spec.finished, spec.start)
        return KinesisRestriction(tuple(cursors), spec.bounded)

    def split(self, spec: KinesisSpec, restriction: KinesisRestriction):
        for c in restriction.cursors:           # one restriction per shard
            yield KinesisRestriction((c,), restriction.bounded)

    def create_tracker(self, restriction: KinesisRestriction) -> KinesisTracker:
        return KinesisTracker(restriction)

    def restriction_size(self, spec: KinesisSpec, restriction: KinesisRestriction) -> float:
        return float(len(restriction.cursors))

    def truncate(self, spec: KinesisSpec, restriction: KinesisRestriction):
        return None   # draining an unbounded read: stop reading, nothing is left to finish


class ArrivalWatermarkEstimator(WatermarkEstimator):
    """The reader's watermark as Beam holds it between process calls: the value the reader set
    (``ArrivalWatermark``: each shard's arrival mark held back by its measured delivery delay)
    and the shards' measured delays, checkpointed with the restriction so a resumed read keeps
    what it learnt. State: ``(watermark Timestamp or None, {shard: DelayWindow.to_json()})``."""

    def __init__(self, state: Any = None) -> None:
        watermark, delays = state if isinstance(state, tuple) else (state, {})
        self._watermark: Timestamp | None = watermark
        self.delays: dict[str, DelayWindow] = {sid: DelayWindow.from_json(d) for sid, d in (delays or {}).items()}

    def observe_timestamp(self, timestamp) -> None:
        pass

    def current_watermark(self) -> Timestamp | None:
        return self._watermark

    def set_watermark(self, timestamp: Timestamp) -> None:
        if self._watermark is None or timestamp > self._watermark:
            self._watermark = timestamp

    def measured_delays(self) -> dict[str, DelayWindow]:
        """The live per-shard delays, observed in place by the read (a method: Beam hands the
        DoFn a thread-safe wrapper that forwards method calls only)."""
        return self.delays

    def get_estimator_state(self):
        # A runner may checkpoint from another thread while the read observes more delays:
        # a dict changed mid-copy is copied again.
        for _ in range(5):
            try:
                return self._watermark, {sid: w.to_json() for sid, w in list(self.delays.items())}
            except RuntimeError:
                continue
        return self._watermark, {}


class _ArrivalWatermarkProvider(WatermarkEstimatorProvider):
    def initial_estimator_state(self, spec: KinesisSpec, restriction: KinesisRestriction):
        shards = {c.shard_id for c in restriction.cursors}
        return None, {sid: d for sid, d in spec.delays.items() if sid in shards}

    def create_watermark_estimator(self, estimator_state) -> ArrivalWatermarkEstimator:
        return ArrivalWatermarkEstimator(estimator_state)


_PROVIDER = _ShardsProvider()
_WATERMARK = _ArrivalWatermarkProvider()


def _ms(ts: Timestamp | None) -> int | None:
    return None if ts is None else int(ts.micros // 1000)


class ReadShards(beam.DoFn):
    """The splittable DoFn; see the module docstring."""

    def __init__(self) -> None:
        self.records = Metrics.counter("coldtrace", "kinesis_records_read")
        self.events = Metrics.counter("coldtrace", "events_read")
        self.dead = Metrics.counter("coldtrace", "dead_letters_read")
        self.throttled = Metrics.counter("coldtrace", "kinesis_throttled")
        self.retried = Metrics.counter("coldtrace", "kinesis_retried")
        self.age = Metrics.distribution("coldtrace", "iterator_age_ms")
        self._clients: dict[tuple, Any] = {}

    def _client(self, spec: KinesisSpec) -> Any:
        key = (spec.region, spec.endpoint_url)
        if key not in self._clients:
            self._clients[key] = spec.client()
        return self._clients[key]

    def process(self, spec: KinesisSpec, tracker=beam.DoFn.RestrictionParam(_PROVIDER),
                watermark=beam.DoFn.WatermarkEstimatorParam(_WATERMARK)):
        started = time.time()
        client = self._client(spec)
        marks = ArrivalWatermark(spec.delivery_delay_ms, _ms(watermark.current_watermark()),
                                 watermark.measured_delays())
        held: int | None = None
        loop = ShardsLoop(client, spec.stream, list(tracker.current_restriction().cursors),
                          lambda kind, sid, value: tracker.try_claim((kind, sid, value)), bounded=spec.bounded,
                          watermark=marks, list_shards=lambda: list_shards(client, spec.stream),
                          account=spec.account, region=spec.region, limit=spec.limit,
                          max_read_s=spec.max_read_s, idle_poll_s=spec.idle_poll_s)
        for step in loop.run():
            yield from self._route(step.decoded)
            self.throttled.inc(step.throttled)
            self.retried.inc(step.retried)
            if step.hold_ms is not None:
                held = step.hold_ms if held is None else max(held, step.hold_ms)
            if spec.bounded and (step.parked or step.ended):
                yield beam.pvalue.TaggedOutput("progress", ShardProgress(
                    step.shard_id, None if step.ended else step.cursor, step.ended, step.mark_ms,
                    step.records_read, step.throttled, None if step.delays is None else step.delays.to_json()))
            value = marks.advance()
            if value is not None:
                watermark.set_watermark(Timestamp(micros=value * 1000))
        point = iterator_age_point(started, time.time(), loop.oldest_arrival_ms, held)
        self.age.update(point.value.values["iterator_age_max_ms"])
        yield beam.pvalue.TaggedOutput("health", point)
        if loop.remaining:   # unbounded: the runner resumes the rest (after a pause when caught up)
            tracker.defer_remainder(Duration(seconds=spec.idle_poll_s if loop.caught_up else 0))

    def _route(self, decoded):
        self.records.inc(decoded.records)
        self.events.inc(decoded.events)
        self.dead.inc(len(decoded.dead))
        for batch in decoded.batches:
            yield TimestampedValue(batch, max(ev.timestamp for ev in batch) / 1000.0)
        for dead in decoded.dead:
            yield beam.pvalue.TaggedOutput("dead", dead)


class ReadShardsForever(ReadShards):
    """The same DoFn, declared unbounded per element: for ``KinesisSpec(bounded=False)``.

    (An unbounded output cannot be grouped in the global window, so a bounded read must not
    declare itself unbounded.)"""

    @beam.DoFn.unbounded_per_element()
    def process(self, spec: KinesisSpec, tracker=beam.DoFn.RestrictionParam(_PROVIDER),
                watermark=beam.DoFn.WatermarkEstimatorParam(_WATERMARK)):
        yield from super().process(spec, tracker, watermark)


class ReadShardsPlain(ReadShards):
    """The same read as an ordinary DoFn over ``(spec, restriction)``, bounded only: for runners
    without splittable-DoFn support (BundleBasedDirectRunner checks a restriction done before it
    runs a generator). One element per shard, so shards are still read in parallel."""

    def process(self, element: tuple[KinesisSpec, KinesisRestriction]):
        spec, restriction = element
        estimator = ArrivalWatermarkEstimator(_WATERMARK.initial_estimator_state(spec, restriction))
        yield from ReadShards.process(self, spec, KinesisTracker(restriction), estimator)


def _per_shard(spec: KinesisSpec):
    restriction = _PROVIDER.initial_restriction(spec)
    return [(spec, r) for r in _PROVIDER.split(spec, restriction)]


def iterator_age_point(started_s: float, ended_s: float, oldest_arrival_ms: int | None,
                       delivery_delay_ms: int | None = None) -> Any:
    """The pipeline's own iterator age over one read: now − the oldest ApproximateArrivalTimestamp
    read (0 when nothing was waiting), and the delivery delay its watermark was held back by
    (the highest shard's; none when no shard was read), as a MetricPoint timestamped at the read's end."""

    end_ms = int(ended_s * 1000)
    age = 0 if oldest_arrival_ms is None else max(0, end_ms - oldest_arrival_ms)
    values = {"iterator_age_max_ms": age}
    if delivery_delay_ms is not None:
        values["delivery_delay_ms"] = int(delivery_delay_ms)
    point = MetricPoint(function_name=PIPELINE_FUNCTION, window_start_ms=int(started_s * 1000), window_end_ms=end_ms,
                        source="pipeline", values=values)
    return TimestampedValue(point, ended_s)


class ReadKinesis(beam.PTransform):
    """``KinesisSpec`` → tagged outputs ``batches``, ``dead``, ``health``, ``progress``.

    ``io="native"`` (default): the splittable DoFn above. ``io="java"``: Beam's cross-language
    ``ReadDataFromKinesis`` (needs Java and a downloadable expansion-service jar; gives record
    data only, so no ``health`` or ``progress`` and a processing-time watermark policy).
    """

    def __init__(self, spec: KinesisSpec, io: str = "native", splittable: bool = True) -> None:
        super().__init__()
        if io not in ("native", "java"):
            raise ValueError(f"Kinesis IO {io!r}: expected native or java")
        if not splittable and not spec.bounded:
            raise ValueError("an unbounded Kinesis read needs a runner with splittable DoFns")
        self.spec, self.io, self.splittable = spec, io, splittable

    def expand(self, pbegin):
        if self.io == "java":
            return _read_java(pbegin, self.spec)
        if not self.splittable:
            return (pbegin
                    | "Spec" >> beam.Create([self.spec])
                    | "PerShard" >> beam.FlatMap(_per_shard)
                    | "Reshuffle" >> beam.Reshuffle()
                    | "ReadShards" >> beam.ParDo(ReadShardsPlain()).with_outputs("dead", "health", "progress",
                                                                                main="batches"))
        return (pbegin
                | "Spec" >> beam.Create([self.spec])
                | "ReadShards" >> beam.ParDo(ReadShards() if self.spec.bounded else ReadShardsForever()).with_outputs("dead", "health", "progress", main="batches"))


def _read_java(pbegin, spec: KinesisSpec):
    """The cross-language read; records are decoded as the native reader decodes them."""

    creds = boto3.session.Session().get_credentials()
    if creds is None:
        raise ValueError("--kinesis-io java needs AWS credentials (passed to the Java reader explicitly)")
    frozen = creds.get_frozen_credentials()
    position = {"LATEST": InitialPositionInStream.LATEST, "TRIM_HORIZON": InitialPositionInStream.TRIM_HORIZON,
                "AT_TIMESTAMP": InitialPositionInStream.AT_TIMESTAMP}[spec.start.kind]
    data = pbegin | "ReadDataFromKinesis" >> ReadDataFromKinesis(
        stream_name=spec.stream, aws_access_key=frozen.access_key, aws_secret_key=frozen.secret_key,
        region=spec.region, service_endpoint=spec.endpoint_url, initial_position_in_stream=position,
        initial_timestamp_in_stream=spec.start.timestamp_ms)
    account, region, stream = spec.account, spec.region, spec.stream

    def decode(raw: bytes):
        decoded = decode_records([{"Data": raw, "SequenceNumber": "?"}], f"kinesis://{stream}", account, region)
        for batch in decoded.batches:
            yield TimestampedValue(batch, max(ev.timestamp for ev in batch) / 1000.0)
        for dead in decoded.dead:
            yield beam.pvalue.TaggedOutput("dead", dead)

    return data | "DecodeRecords" >> beam.FlatMap(decode).with_outputs("dead", "health", "progress", main="batches")
