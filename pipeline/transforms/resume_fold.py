"""ResumeFolds: the stream fold continued from carried state, for the local catch-up reads.

Input: new event batches and the carried folds ``(stream key, pickled fold)``; they meet in a
CoGroupByKey and each stream's fold continues in ``pipeline.carry.fold.resume_fold``.
Outputs: invocations (main), ``logs`` (events not seen before: ``(stream key, events)``),
``carry`` (the folds to hand on) and ``dead`` (a stream whose fold failed: its events,
dead-lettered; its old fold is carried on unchanged).
"""

from __future__ import annotations

import traceback

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.carry.fold import resume_fold
from pipeline.model import DeadLetter, pack_events, stream_key, unpack_events
from pipeline.parse import CORRELATION_PATHS
from pipeline.transforms.build_invocations import KeyedStream, by_stream
from pipeline.windows import architecture_lookup


def _packed(batch):
    return stream_key(batch[0]), pack_events(batch)


class _Resume(beam.DoFn):
    def __init__(self, architectures: dict[str, str], watermark_ms: int | None,
                 correlation_paths: tuple[str, ...]) -> None:
        self.architectures, self.watermark_ms, self.correlation_paths = architectures, watermark_ms, correlation_paths
        self.count = Metrics.counter("coldtrace", "invocations")
        self.dupes = Metrics.counter("coldtrace", "duplicate_events")
        self.carried = Metrics.counter("coldtrace", "folds_carried")

    def process(self, item):
        key, groups = item
        events = [ev for blob in groups["new"] for ev in unpack_events(blob)]
        old = list(groups["old"])
        state = old[0] if old else None
        try:
            step = resume_fold(state, events, self.watermark_ms, architecture_lookup(self.architectures),
                               self.correlation_paths)
        except Exception as exc:  # a fold bug must not lose the stream: dead-letter its new events
            yield beam.pvalue.TaggedOutput("dead", DeadLetter(
                raw="\n".join(ev.message for ev in events)[:1 << 20], stage="build_invocations",
                error=f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=3)}",
                source=key.replace("\x1f", " "), time_ms=events[-1].timestamp if events else None))
            if state is not None:
                yield beam.pvalue.TaggedOutput("carry", (key, state))
            return
        self.count.inc(len(step.invocations))
        self.dupes.inc(step.duplicates)
        yield from step.invocations
        if step.fresh:
            yield beam.pvalue.TaggedOutput("logs", KeyedStream(key, step.fresh))
        if step.state is not None:
            self.carried.inc()
            yield beam.pvalue.TaggedOutput("carry", (key, step.state))


class ResumeFolds(beam.PTransform):
    """(event batches, carried folds) → invocations, with tagged ``logs``, ``carry``, ``dead``."""

    def __init__(self, architectures: dict[str, str] | None = None, watermark_ms: int | None = None,
                 correlation_paths: tuple[str, ...] = CORRELATION_PATHS) -> None:
        super().__init__()
        self.architectures = dict(architectures or {})
        self.watermark_ms, self.correlation_paths = watermark_ms, tuple(correlation_paths)

    def expand(self, inputs):
        batches, carried = inputs
        keyed = (batches
                 | "NonEmpty" >> beam.Filter(bool)
                 | "OneStreamEach" >> beam.FlatMap(by_stream)
                 | "KeyAndPack" >> beam.Map(_packed))
        return ({"new": keyed, "old": carried}
                | "JoinCarried" >> beam.CoGroupByKey()
                | "Resume" >> beam.ParDo(_Resume(self.architectures, self.watermark_ms, self.correlation_paths))
                .with_outputs("logs", "carry", "dead", main="invocations"))
