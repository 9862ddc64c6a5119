"""StitchTraces: invocations → spans of cross-function traces, in batch and in streaming.

Batch (every runner, Beam's DaskRunner included): the union of trace keys is a
connected-components problem; it is solved by rounds of label propagation over GroupByKey
(``pipeline.stitch.components``), so no step holds more than one key's neighbours, and each
trace is then built from one group. Invocations cross the shuffle as pickled bytes.

Streaming (runners with state and timers): two keyed stages with event-time gap timers. An
invocation waits under its X-Ray id (else its correlation id) until ``gap`` of event time
passed with no new sibling; the X-Ray segment then waits under its correlation id for the
segments on the other side of a queue, and after another gap of silence the trace is emitted.
State is kept ``retention`` longer: a late member re-emits the updated trace with the same ids.
A segment that carries several correlation ids joins the trace of the smallest (batch joins
them all).
"""

from __future__ import annotations

import pickle
from typing import Iterable

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.pvalue import AsSingleton
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue

from pipeline.model import Invocation, Span
from pipeline.stitch import components
from pipeline.stitch.gap import DEFAULT_GAP_MS, DEFAULT_RETENTION_MS
from pipeline.stitch.keys import segment_key, trace_keys
from pipeline.stitch.spans import trace_spans

# What the stitch reads of an invocation (pipeline/stitch: keys, spans, facts): the rest (the
# error message, signals, billing, the runtime's version, the anchor event) stays out of the
# shuffles. tests/unit/test_stitch_rows.py checks that the spans are the same either way.
STITCH_FIELDS = ("function_name", "request_id", "log_group", "log_stream", "function_version", "instance_id",
                 "account", "region", "start_ms", "end_ms", "duration_ms", "memory_size_mb", "init_duration_ms",
                 "restore_duration_ms", "init_start_ms", "cold_start_kind", "outcome", "error_type",
                 "xray_trace_id", "correlation_ids", "parent_request_id")
_ALL_FIELDS = len(Invocation.__slots__)
_PROTOCOL = 5  # fixed, not HIGHEST_PROTOCOL: the workers of a cluster may run another Python


def pack(inv: Invocation) -> bytes:
    """What the stitch needs of an invocation, as compact bytes for the shuffles (and the
    streaming state). FnApiRunner keeps a GroupByKey's values in its own process until the
    consuming stage runs, and the stitch's CoGroupByKey holds them twice (the flattened inputs
    and the group being filled): as bytes a row is one object, as a tuple of plain values several
    times its size; without the fields the stitch never reads, a fifth smaller again (the group
    of 41,211 rows at 250k events: 19 → 15 MiB, bench/memory_stages.py)."""
    return pickle.dumps(tuple(getattr(inv, f) for f in STITCH_FIELDS), _PROTOCOL)


def unpack(row: bytes) -> Invocation:
    """The invocation as the stitch sees it: the fields it does not read keep their defaults. A
    row of every field (streaming state kept by a coldtrace before ``STITCH_FIELDS``) reads as it was."""
    values = pickle.loads(row)
    if len(values) == _ALL_FIELDS:
        return Invocation(*values)
    return Invocation(**dict(zip(STITCH_FIELDS, values)))


# -- batch ------------------------------------------------------------------------------------
class _TracedRow(beam.DoFn):
    """Invocation → (segment key, packed invocation), in the stage that built it."""

    def __init__(self) -> None:
        self.untraced = Metrics.counter("coldtrace", "untraced_invocations")

    def process(self, inv: Invocation):
        key = segment_key(inv)
        if key is None:
            self.untraced.inc()
            return
        yield key, pack(inv)


def _key_edges(inv: Invocation):
    return components.edges(trace_keys(inv))


def _send(kv):
    return components.messages(*kv)


def _named_rows(kv: tuple[str, dict]):
    """(segment key, {rows, label}) → (component name, row) for each row."""
    key, joined = kv
    labels = joined["label"]
    name = labels[0] if labels else key  # a key no invocation joined to another names itself
    for row in joined["rows"]:
        yield name, row


class _BuildTrace(beam.DoFn):
    def __init__(self) -> None:
        self.traces = Metrics.counter("coldtrace", "traces")
        self.spans = Metrics.counter("coldtrace", "spans")

    def process(self, keyed: tuple[str, Iterable[bytes]]):
        spans = trace_spans(unpack(row) for row in keyed[1])
        self.traces.inc()
        self.spans.inc(len(spans))
        yield spans


class NameComponents(beam.PTransform):
    """Invocations → (trace key, component name) for every key an invocation joined to another
    (``pipeline.stitch.components``): rounds of GroupByKey, each bounded by one key's neighbours;
    a union-find sees only the labels that had not settled (none, unless a chain is long)."""

    def expand(self, invocations):
        state = (invocations
                 | "KeyEdges" >> beam.FlatMap(_key_edges)
                 | "Neighbours" >> beam.GroupByKey()
                 | "FirstLabels" >> beam.MapTuple(lambda node, nbrs: (node, components.initial_state(node, nbrs))))
        for r in range(components.ROUNDS):
            state = (state
                     | f"SendLabels{r}" >> beam.FlatMap(_send)
                     | f"GatherLabels{r}" >> beam.GroupByKey()
                     | f"Relabel{r}" >> beam.MapTuple(lambda node, got: (node, components.next_state(got))))
        last = state | "SendLastLabels" >> beam.FlatMap(_send) | "GatherLastLabels" >> beam.GroupByKey()
        names = (last
                 | "UnsettledPairs" >> beam.FlatMap(lambda kv: components.residual_pairs(kv[1]))
                 | "OneResidue" >> beam.Map(lambda pair: (0, pair))
                 | "GatherResidue" >> beam.GroupByKey()
                 | "UnionOfResidue" >> beam.MapTuple(lambda _, pairs: components.residual_names(pairs)))
        return last | "FinalLabels" >> beam.Map(
            lambda kv, renamed: (kv[0], components.final_label(kv[1], renamed)), AsSingleton(names, default_value={}))


class StitchTraces(beam.PTransform):
    """Invocations → Spans (batch). Invocations with no trace key belong to no trace.

    Bounded per trace: the keys' components are named by ``NameComponents``; the invocations,
    grouped by their segment key (an X-Ray trace, else a correlation id), meet their segment's
    name in a CoGroupByKey, then are grouped by that name into traces. Every runner runs it:
    GroupByKey, CoGroupByKey and one singleton side input (the residue's renames, empty in
    practice) — no state, no tagged output, nothing emitted from finish_bundle (DaskRunner).

    After ``expand``, ``whole_traces`` holds the same spans as one list per trace, for a consumer
    that needs traces whole (the report's aggregate) without grouping the spans again."""

    whole_traces = None

    def expand(self, invocations):
        traces = ({"rows": invocations | "KeyBySegment" >> beam.ParDo(_TracedRow()),
                   "label": invocations | "NameComponents" >> NameComponents()}
                  | "SegmentWithName" >> beam.CoGroupByKey()
                  | "KeyByComponent" >> beam.FlatMap(_named_rows)
                  | "GroupByTrace" >> beam.GroupByKey()
                  | "BuildTraces" >> beam.ParDo(_BuildTrace()))
        self.whole_traces = traces
        return traces | "Spans" >> beam.FlatMap(lambda spans: spans)


# -- streaming --------------------------------------------------------------------------------
def _segment_of(inv: Invocation):
    key = segment_key(inv)
    if key is not None:
        yield key, pack(inv)


def _member_id(row: bytes) -> tuple:
    inv = unpack(row)
    return (inv.log_group or inv.function_name, inv.request_id, inv.start_ms)


def _activity_ms(row: bytes) -> int:
    inv = unpack(row)
    return int(max(t for t in (inv.end_ms, inv.start_ms, 0) if t is not None))


class _GapState(beam.DoFn):
    """Keyed state {members, dirty}; an event-time timer ``gap_ms`` after the last activity
    emits the members, then ``retention_ms`` later forgets them."""

    STATE = ReadModifyWriteStateSpec("members", PickleCoder())
    TIMER = TimerSpec("gap", TimeDomain.WATERMARK)

    def __init__(self, gap_ms: int, retention_ms: int) -> None:
        self.gap_ms, self.retention_ms = gap_ms, retention_ms

    def add(self, state: dict, value, timestamp_ms: int) -> int:  # → due time (ms)
        raise NotImplementedError

    def emit(self, key: str, state: dict, at_s: float):
        raise NotImplementedError

    def process(self, kv, timestamp=beam.DoFn.TimestampParam, state=beam.DoFn.StateParam(STATE),
                timer=beam.DoFn.TimerParam(TIMER)):
        current = state.read() or {"members": {}, "dirty": True, "emitted": False}
        if not current["dirty"] and current["emitted"]:
            self.reemits.inc()
        current["dirty"] = True
        due_ms = self.add(current, kv[1], int(timestamp.micros // 1000))
        state.write(current)
        timer.set(due_ms / 1000.0)

    @on_timer(TIMER)
    def on_gap(self, key=beam.DoFn.KeyParam, timestamp=beam.DoFn.TimestampParam,
               state=beam.DoFn.StateParam(STATE), timer=beam.DoFn.TimerParam(TIMER)):
        current = state.read()
        if current is None:
            return
        if not current["dirty"]:
            state.clear()  # retention over: forget the trace
            return
        at_s = float(timestamp.micros) / 1e6
        for out in self.emit(key, current, at_s):
            yield TimestampedValue(out, at_s)
        current["dirty"], current["emitted"] = False, True
        state.write(current)
        timer.set(at_s + self.retention_ms / 1000.0)


class _Segments(_GapState):
    """Stage 1, keyed by X-Ray id (or correlation id): → (trace key, (segment key, members))."""

    def __init__(self, gap_ms: int, retention_ms: int) -> None:
        super().__init__(gap_ms, retention_ms)
        self.reemits = Metrics.counter("coldtrace", "late_segment_members")

    def add(self, state: dict, row, timestamp_ms: int) -> int:
        state["members"][_member_id(row)] = row
        state["last"] = max(state.get("last", 0), _activity_ms(row))
        return state["last"] + self.gap_ms

    def emit(self, key: str, state: dict, at_s: float):
        rows = list(state["members"].values())
        corrs = sorted(c for row in rows for c in unpack(row).correlation_ids if c)
        yield ("c:" + corrs[0]) if corrs else key, (key, rows)


class _Traces(_GapState):
    """Stage 2, keyed by trace key: the latest version of each segment → the trace's spans."""

    def __init__(self, gap_ms: int, retention_ms: int) -> None:
        super().__init__(gap_ms, retention_ms)
        self.reemits = Metrics.counter("coldtrace", "traces_reemitted")
        self.traces = Metrics.counter("coldtrace", "traces")

    def add(self, state: dict, segment, timestamp_ms: int) -> int:
        seg_key, rows = segment
        state["members"][seg_key] = rows
        return timestamp_ms + self.gap_ms

    def emit(self, key: str, state: dict, at_s: float) -> list[Span]:
        self.traces.inc()
        return trace_spans(unpack(row) for rows in state["members"].values() for row in rows)


class StitchTracesStreaming(beam.PTransform):
    """Invocations → Spans on a streaming runner (keyed state + event-time gap timers)."""

    def __init__(self, gap_ms: int = DEFAULT_GAP_MS, retention_ms: int = DEFAULT_RETENTION_MS) -> None:
        super().__init__()
        self.gap_ms, self.retention_ms = gap_ms, retention_ms

    def expand(self, invocations):
        return (invocations
                | "KeyBySegment" >> beam.FlatMap(_segment_of)
                | "SegmentsInState" >> beam.ParDo(_Segments(self.gap_ms, self.retention_ms))
                | "TracesInState" >> beam.ParDo(_Traces(self.gap_ms, self.retention_ms)))
