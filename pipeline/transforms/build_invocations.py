"""GroupByLogStream and BuildInvocations: the batch shell around the pure stream fold.

Batch runs group every batch of a log stream together (GroupByKey: portable to every runner,
Beam's DaskRunner included, which has no state API), sort and de-duplicate once, then fold.
The de-duplicated stream is also what the logs index is written from, so a payload that
CloudWatch delivered twice is indexed once.
"""

from __future__ import annotations

import traceback
from typing import Callable, Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.invocations import StreamFold, dedupe_sorted
from pipeline.model import DeadLetter, Invocation, LogEvent

DEAD = "dead"


def _stream_key(batch: list[LogEvent]) -> tuple[str, list[LogEvent]]:
    first = batch[0]
    return f"{first.log_group}\x1f{first.log_stream}", batch


class _SortStream(beam.DoFn):
    def __init__(self) -> None:
        self.dupes = Metrics.counter("coldtrace", "duplicate_events")

    def process(self, keyed: tuple[str, Iterable[list[LogEvent]]]):
        key, batches = keyed
        events = [ev for batch in batches for ev in batch]
        unique = dedupe_sorted(events)
        if len(unique) != len(events):
            self.dupes.inc(len(events) - len(unique))
        yield key, unique


class GroupByLogStream(beam.PTransform):
    """Batches → (stream key, that stream's events in time order, each event once)."""

    def expand(self, batches):
        return (batches
                | "NonEmpty" >> beam.Filter(bool)
                | "KeyByStream" >> beam.Map(_stream_key)
                | "GroupByStream" >> beam.GroupByKey()
                | "SortAndDedupe" >> beam.ParDo(_SortStream()))


class _Fold(beam.DoFn):
    def __init__(self, architectures: dict[str, str]) -> None:
        self.architectures = architectures
        self.count = Metrics.counter("coldtrace", "invocations")
        self.dead = Metrics.counter("coldtrace", "dead_letters_fold")

    def process(self, keyed: tuple[str, list[LogEvent]]):
        key, events = keyed
        arch: Callable[[str], str] = lambda fn: self.architectures.get(fn, "x86_64")  # noqa: E731
        fold = StreamFold(architecture_of=arch)
        try:
            out: list[Invocation] = []
            for ev in events:
                out.extend(fold.add(ev))
            out.extend(fold.flush())
        except Exception as exc:  # a fold bug must not lose the stream: dead-letter it whole
            yield beam.pvalue.TaggedOutput(DEAD, DeadLetter(
                raw="\n".join(ev.message for ev in events)[:1 << 20], stage="build_invocations",
                error=f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=3)}",
                source=key.replace("\x1f", " "), time_ms=events[-1].timestamp if events else None))
            return
        self.count.inc(len(out))
        yield from out


class BuildInvocations(beam.PTransform):
    """(stream key, sorted events) → one Invocation per request; ``DEAD`` for a failed fold."""

    def __init__(self, architectures: dict[str, str] | None = None) -> None:
        super().__init__()
        self.architectures = dict(architectures or {})

    def expand(self, streams):
        return streams | "Fold" >> beam.ParDo(_Fold(self.architectures)).with_outputs(DEAD, main="invocations")
