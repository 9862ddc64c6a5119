"""The advice aggregate in a real Beam pipeline: partial aggregates merged by the runner equal the
one built in one go, and regression findings come out as alarms when asked."""

from __future__ import annotations

import apache_beam as beam
import orjson
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.advise import AdviceAggregate, advise
from pipeline.advise.alarms import regression_alarms
from pipeline.advise.files import load_aggregate
from pipeline.sinks.advice_files import WriteAdviceJson
from pipeline.transforms.advice import FoldAdvice, RegressionAlarms
from tests.unit.test_advise import T0, fleet


def _invocations():
    return (fleet("orders", 400, version="12", p_error=0.01)
            + fleet("orders", 400, version="13", p_error=0.10, median=400.0, start=T0 + 400_000)
            + fleet("big", 600, memory=1024, used=(90, 130), median=20.0))


def test_the_pipeline_writes_the_aggregate_and_raises_the_regression_alarm(tmp_path):
    invs = _invocations()
    expected = AdviceAggregate()
    for i in invs:
        expected.add(i)
    want = [a.to_doc() for a in regression_alarms(advise(expected))]
    assert len(want) == 1
    with TestPipeline() as p:
        aggregate = p | beam.Create(invs, reshuffle=True) | FoldAdvice()
        aggregate | WriteAdviceJson(str(tmp_path))
        alarms = aggregate | RegressionAlarms() | beam.Map(lambda a: a.to_doc())
        assert_that(alarms, equal_to(want))
    written = load_aggregate(str(tmp_path))
    assert orjson.dumps(written.aggregate.to_json()) == orjson.dumps(expected.to_json())
