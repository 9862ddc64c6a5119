"""The advice aggregate in the graph (``pipeline.advise``), and the regression alarms it raises.

- ``FoldAdvice``: every invocation into one mergeable ``AdviceAggregate`` (Beam's combiner lifting
  merges the workers' partial aggregates): a batch run's, a catch-up read's share;
- ``FoldAdvicePerFunction``: the endless graph's, one aggregate per function in the global window,
  fired every ``STREAMING_EVALUATION_S`` of processing time and at the end of the input,
  accumulating (each firing holds everything so far);
- ``RegressionAlarms``: an aggregate → the ALARM of each regression finding;
  ``RegressionAlarmsOnce``: the same from repeated firings, each finding raised once (the keys
  raised, in keyed state per function).
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.coders import StrUtf8Coder
from apache_beam.transforms import trigger
from apache_beam.transforms.userstate import BagStateSpec
from apache_beam.transforms.window import GlobalWindows

from pipeline.advise import AdviceAggregate
from pipeline.advise.alarms import raise_once, regression_findings
from pipeline.advise.thresholds import STREAMING_EVALUATION_S


class AdviceCombineFn(beam.CombineFn):
    """The pure aggregate's ``add`` and ``merge``, as a CombineFn (``timeline``: see
    ``FunctionAgg.timeline``; streaming folds without it)."""

    def __init__(self, timeline: bool = True) -> None:
        self.timeline = timeline

    def create_accumulator(self) -> AdviceAggregate:
        return AdviceAggregate(timeline=self.timeline)

    def add_input(self, acc: AdviceAggregate, invocation) -> AdviceAggregate:
        return acc.add(invocation)

    def merge_accumulators(self, accumulators) -> AdviceAggregate:
        it = iter(accumulators)
        out = next(it, None) or AdviceAggregate(timeline=self.timeline)
        for acc in it:
            out.merge(acc)
        return out

    def extract_output(self, acc: AdviceAggregate) -> AdviceAggregate:
        return acc


class FoldAdvice(beam.PTransform):
    def __init__(self, timeline: bool = True) -> None:
        super().__init__()
        self.timeline = timeline

    def expand(self, invocations):
        return invocations | "Fold" >> beam.CombineGlobally(AdviceCombineFn(self.timeline))


class FoldAdvicePerFunction(beam.PTransform):
    """Invocations → (function, its aggregate so far), once a minute and at the end."""

    def __init__(self, every_s: float = STREAMING_EVALUATION_S) -> None:
        super().__init__()
        self.every_s = every_s

    def expand(self, invocations):
        return (invocations
                | "ByFunction" >> beam.Map(lambda inv: (inv.function_name, inv))
                | "Periodically" >> beam.WindowInto(
                    GlobalWindows(), trigger=trigger.AfterWatermark(early=trigger.AfterProcessingTime(self.every_s)),
                    accumulation_mode=trigger.AccumulationMode.ACCUMULATING)
                | "Fold" >> beam.CombinePerKey(AdviceCombineFn(timeline=False)))


class RegressionAlarms(beam.PTransform):
    def expand(self, aggregates):
        return aggregates | "Raise" >> beam.FlatMap(lambda agg: raise_once(regression_findings(agg))[0])


class _RaiseOnce(beam.DoFn):
    RAISED = BagStateSpec("raised", StrUtf8Coder())

    def process(self, element, raised=beam.DoFn.StateParam(RAISED)):
        _, aggregate = element
        before = list(raised.read())
        alarms, keys = raise_once(regression_findings(aggregate), before)
        for key in set(keys) - set(before):
            raised.add(key)
        yield from alarms


class RegressionAlarmsOnce(beam.PTransform):
    """(function, aggregate) firings → each regression's ALARM, once."""

    def expand(self, keyed_aggregates):
        return (keyed_aggregates | "RaiseOnce" >> beam.ParDo(_RaiseOnce())
                | "GlobalWindow" >> beam.WindowInto(GlobalWindows()))
