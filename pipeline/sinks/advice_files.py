"""The advice aggregate as the pipeline runs, written to ``<out>/aggregates/advice.json`` (one
file, rewritten whole: a retry is safe), so ``coldtrace advise`` and the report read figures, not
every invocation again. The aggregate itself is folded in the graph (``pipeline.graph``:
``transforms/advice.py``)."""

from __future__ import annotations

import os

import apache_beam as beam

from pipeline.advise.files import write_aggregate


class WriteAdviceJson(beam.PTransform):
    """The run's one aggregate → ``<out>/aggregates/advice.json``; outputs the path written."""

    def __init__(self, out_dir: str) -> None:
        super().__init__()
        self.out_dir = os.path.abspath(out_dir)

    def expand(self, aggregate):
        return aggregate | "WriteAdviceJson" >> beam.Map(lambda agg, out: write_aggregate(out, agg), self.out_dir)
