"""AggregateForReport: the run's ``ReportAggregate`` (``pipeline.report.aggregates``), combined as
the pipeline runs and written to ``<out>/aggregates/report.json`` at the end, so the report and
the summary never read the index files back.

A CombineGlobally per input: each worker adds its invocations, whole traces, metric points and alarms
into a partial aggregate (bounded by the fleet's shape, see ``aggregates``), and the partials
merge into one. Runs on every runner (no state, no timers; DaskRunner included).

Every combine is ``without_defaults``: a CombineGlobally with its default hands its result to a
Map as a side input (to output ``create_accumulator()`` for an empty input), which on FnApiRunner
is a second, whole copy of the aggregate read and decoded in one worker (about a third of that
worker's peak at the end of a 4M-event run). An empty aggregate is merged in instead, so an empty
run still writes its (empty) aggregate.
"""

from __future__ import annotations

import apache_beam as beam

from pipeline.report.aggregates import ReportAggregate
from pipeline.report.load import write_aggregate
from pipeline.transforms.mergeable_combine import MergeableCombineFn


class AggregateForReport(beam.PTransform):
    """{"invocations", "traces" (each trace's list of Spans), "points", "alarms"} → the path of
    ``<out>/aggregates/report.json``, written once every input was added."""

    def __init__(self, out_dir: str) -> None:
        super().__init__()
        self.out_dir = out_dir

    def expand(self, inputs):
        # One combine per input, fused into the stage that makes it; only the partial aggregates
        # meet (a Flatten of the inputs themselves would make FnApiRunner buffer every element).
        parts = [inputs[name] | f"Aggregate{name.title()}" >> beam.CombineGlobally(
                     MergeableCombineFn(ReportAggregate)).without_defaults()
                 for name in ("invocations", "traces", "points", "alarms") if name in inputs]
        pipeline = next(iter(inputs.values())).pipeline
        empty = pipeline | "EmptyAggregate" >> beam.Create([ReportAggregate()])  # the one output of an empty run
        return ([*parts, empty]
                | "PartialAggregates" >> beam.Flatten()
                | "MergeAggregates" >> beam.CombineGlobally(
                    MergeableCombineFn(ReportAggregate, parts=True)).without_defaults()
                | "WriteReportAggregate" >> beam.Map(write_aggregate, self.out_dir))
