"""Beam side of the ledger (``pipeline.ledger``): count records out of the graph and onto disk.

Count records travel in the same PCollections as the data they count (the reader's output, the
group's output) and are split off by type, like dead letters: Beam's DaskRunner routes no tagged
outputs and reports no metrics, and a type filter runs the same on every runner. They are written
as NDJSON part files under ``<out>/ledger/.parts/`` by the index files' shard writer (sealed in
``finish_bundle``, so a failed bundle leaves nothing the driver would count).
"""

from __future__ import annotations

import os

import apache_beam as beam
import orjson
from apache_beam.metrics.metric import MetricsFilter

from pipeline.ledger import DeadLetterCount, is_ledger_record, parts_dir
from pipeline.sinks.index_files import _WriteShards


def split_ledger(items, label: str):
    """(items that are not count records, count records) of a mixed PCollection."""
    data = items | f"{label}Data" >> beam.Filter(lambda x: not is_ledger_record(x))
    counts = items | f"{label}Counts" >> beam.Filter(is_ledger_record)
    return data, counts


def count_dead_letters() -> beam.PTransform:
    """One ``DeadLetterCount`` per dead letter on its way to the dead-letter index."""
    return beam.Map(lambda d: DeadLetterCount(d.stage))


class WriteLedger(beam.PTransform):
    """Count records → ``<out>/ledger/.parts/counts-<uuid>.ndjson``."""

    def __init__(self, out_dir: str) -> None:
        super().__init__()
        self.prefix = os.path.join(parts_dir(os.path.abspath(out_dir)), "counts")

    def expand(self, records):
        return (records
                | "CountLines" >> beam.Map(lambda r: orjson.dumps(r.to_record()).decode())
                | "WriteCounts" >> beam.ParDo(_WriteShards(self.prefix)))


def beam_counters(result, namespace: str = "coldtrace") -> dict[str, int] | None:
    """Counters of a finished run by name, or None when the runner reports none (DaskRunner)."""
    try:
        found = result.metrics().query(MetricsFilter().with_namespace(namespace))["counters"]
    except (NotImplementedError, AttributeError):
        return None
    totals: dict[str, int] = {}
    for c in found:
        totals[c.key.metric.name] = totals.get(c.key.metric.name, 0) + (c.committed or c.attempted or 0)
    return totals
