"""The advice aggregate in the graph (``pipeline.advise``), and the regression alarms it raises.

- ``FoldAdvice``: every invocation into one mergeable ``AdviceAggregate`` (Beam's combiner lifting
  merges the workers' partial aggregates): a batch run's, a catch-up read's share; none when
  there is no invocation (``without_defaults``: a default would cost a side-input copy of the
  whole aggregate in one worker; the readers fold the empty index instead, ``advise.files``);
- ``FoldAdvicePerFunction``: the endless graph's, one aggregate per function in the global window,
  fired every ``STREAMING_EVALUATION_S`` of processing time and at the end of the input,
  accumulating (each firing holds everything so far);
- ``RegressionAlarms``: an aggregate → the ALARM of each regression finding;
  ``RegressionAlarmsOnce``: the same from repeated firings, each finding raised once (the keys
  raised, in keyed state per function).
"""

from __future__ import annotations

import functools

import apache_beam as beam
from apache_beam.coders import StrUtf8Coder
from apache_beam.transforms import trigger
from apache_beam.transforms.userstate import BagStateSpec
from apache_beam.transforms.window import GlobalWindows

from pipeline.advise import AdviceAggregate
from pipeline.advise.alarms import raise_once, regression_findings
from pipeline.advise.thresholds import STREAMING_EVALUATION_S
from pipeline.transforms.mergeable_combine import MergeableCombineFn


def _advice_combine(timeline: bool) -> MergeableCombineFn:
    """The pure aggregate's ``add`` and ``merge`` as a CombineFn (``timeline``: see
    ``FunctionAgg.timeline``; streaming folds without it)."""
    return MergeableCombineFn(functools.partial(AdviceAggregate, timeline=timeline))


class FoldAdvice(beam.PTransform):
    def __init__(self, timeline: bool = True) -> None:
        super().__init__()
        self.timeline = timeline

    def expand(self, invocations):
        return invocations | "Fold" >> beam.CombineGlobally(_advice_combine(self.timeline)).without_defaults()


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
                | "Fold" >> beam.CombinePerKey(_advice_combine(timeline=False)))


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
