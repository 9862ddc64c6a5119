"""Beam sink: ``WriteToElasticsearch(settings, index)`` writes records into one index.

A thin shell over ``pipeline.sinks.es_bulk.BulkWriter``: the client is made once per worker
process (``apache_beam.utils.shared``) from settings that carry no secret — credentials are
read on the worker, from its environment or the secret store. Each bundle is flushed in
``finish_bundle``, so a bundle that fails is retried whole by the runner, and deterministic
ids with ``create`` make that retry harmless. Counters (Beam metrics, namespace
``coldtrace.es``): indexed, already_indexed, retried, rejected, dead_lettered.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.utils import shared

from pipeline.sinks.es_bulk import BulkCounts, BulkWriter
from pipeline.sinks.es_client import EsSettings, make_client

COUNTERS = ("indexed", "already_indexed", "retried", "rejected", "dead_lettered")


class _ClientHolder:
    """Weak-referenceable box for the shared client."""

    def __init__(self, client) -> None:
        self.client = client


def _records(element: Any):
    """A record, an (action, document) pair, or an iterable of either."""
    if hasattr(element, "doc_id"):
        yield element
    elif isinstance(element, tuple) and len(element) == 2 and isinstance(element[0], dict):
        yield element
    else:
        yield from element


class _WriteDocsFn(beam.DoFn):
    def __init__(self, settings: EsSettings, index: str, writer_options: dict[str, Any],
                 shared_handle: shared.Shared) -> None:
        self.settings, self.index, self.writer_options = settings, index, writer_options
        self._shared = shared_handle
        self.counters = {name: Metrics.counter("coldtrace.es", name) for name in COUNTERS}

    def setup(self) -> None:
        settings = self.settings
        self._holder = self._shared.acquire(lambda: _ClientHolder(make_client(settings)),
                                            tag=repr(settings))
        self.writer = BulkWriter(self._holder.client, **self.writer_options)
        self._reported = BulkCounts()

    def process(self, element: Any):
        self.writer.add_all(self.index, _records(element))
        self._report()

    def finish_bundle(self) -> None:
        self.writer.flush()
        self._report()

    def teardown(self) -> None:
        writer = getattr(self, "writer", None)
        if writer is not None:  # finish_bundle flushed; anything left belongs to a failed bundle
            writer.abort()

    def _report(self) -> None:
        now = self.writer.counts
        for name, counter in self.counters.items():
            delta = getattr(now, name) - getattr(self._reported, name)
            if delta:
                counter.inc(delta)
        self._reported = BulkCounts(**now.as_dict())


class WriteToElasticsearch(beam.PTransform):
    """PCollection of records (or batches of them, or (action, doc) pairs) → ``index``.

    ``writer_options`` go to ``BulkWriter`` (max_docs, max_bytes, concurrency, max_retries,
    initial_backoff, max_backoff).
    """

    def __init__(self, settings: EsSettings, index: str, **writer_options: Any) -> None:
        super().__init__()
        self.settings, self.index, self.writer_options = settings, index, writer_options

    def expand(self, pcoll):
        return pcoll | "BulkWrite" >> beam.ParDo(
            _WriteDocsFn(self.settings, self.index, self.writer_options, shared.Shared()))


def es_counters(result) -> dict[str, int]:
    """The sink's counters from a finished pipeline's result (summed over steps)."""
    totals = dict.fromkeys(COUNTERS, 0)
    for c in result.metrics().query(MetricsFilter().with_namespace("coldtrace.es"))["counters"]:
        if c.key.metric.name in totals:
            totals[c.key.metric.name] += c.committed or c.attempted or 0
    return totals
