"""The advice aggregate as the pipeline runs: every invocation folded into one mergeable
``AdviceAggregate`` (Beam's combiner lifting merges the workers' partial aggregates) and written
to ``<out>/aggregates/advice.json``, so ``coldtrace advise`` and the report read figures, not
every invocation again."""

from __future__ import annotations

import os

import apache_beam as beam

from pipeline.advise import AdviceAggregate, advise
from pipeline.advise.alarms import regression_alarms
from pipeline.advise.files import write_aggregate


class AdviceCombineFn(beam.CombineFn):
    """The pure aggregate's ``add`` and ``merge``, as a CombineFn."""

    def create_accumulator(self) -> AdviceAggregate:
        return AdviceAggregate()

    def add_input(self, acc: AdviceAggregate, invocation) -> AdviceAggregate:
        return acc.add(invocation)

    def merge_accumulators(self, accumulators) -> AdviceAggregate:
        it = iter(accumulators)
        out = next(it, None) or AdviceAggregate()
        for acc in it:
            out.merge(acc)
        return out

    def extract_output(self, acc: AdviceAggregate) -> AdviceAggregate:
        return acc


class WriteAdviceAggregate(beam.PTransform):
    """Invocations → ``<out>/aggregates/advice.json`` (one file, rewritten whole: a retry is safe).

    With ``alarms`` the output is the regression findings as Alarms (``pipeline.advise.alarms``),
    for the alarms index and its notifiers; without, the path written."""

    def __init__(self, out_dir: str, alarms: bool = False) -> None:
        super().__init__()
        self.out_dir = os.path.abspath(out_dir)
        self.alarms = alarms

    def expand(self, invocations):
        aggregate = invocations | "FoldAdvice" >> beam.CombineGlobally(AdviceCombineFn())
        written = aggregate | "WriteAdviceJson" >> beam.Map(lambda agg, out: write_aggregate(out, agg), self.out_dir)
        if not self.alarms:
            return written
        return aggregate | "RegressionAlarms" >> beam.FlatMap(lambda agg: regression_alarms(advise(agg)))
