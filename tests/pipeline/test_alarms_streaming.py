"""The streaming shells: WindowMetrics in one-minute event-time windows and EvaluateAlarms in
keyed state with a watermark timer give what the batch computation gives, minute by minute."""

from __future__ import annotations

import random

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to

from pipeline.detect import observe_invocation
from pipeline.metrics import window_points
from pipeline.model import Invocation, MetricPoint
from pipeline.rules import default_rules, evaluate_points
from pipeline.transforms.evaluate_alarms import EvaluateAlarmsStreaming
from pipeline.transforms.window_metrics import WindowMetrics

T0 = 1714557600000
MIN = 60_000


def streaming() -> PipelineOptions:
    opts = PipelineOptions(runner="BundleBasedDirectRunner")
    opts.view_as(StandardOptions).streaming = True
    return opts


def error_series(fn: str, rates: list[float], n: int = 50) -> list[MetricPoint]:
    return [MetricPoint(function_name=fn, window_start_ms=T0 + m * MIN, window_end_ms=T0 + (m + 1) * MIN,
                        function_version="1", values={"invocations": n, "errors": round(r * n)})
            for m, r in enumerate(rates)]


def test_evaluate_alarms_in_keyed_state_matches_batch():
    a = error_series("orders-api", [0.0] * 3 + [0.5] * 5 + [0.0] * 6)
    b = error_series("payments", [0.0] * 2 + [0.4] * 4 + [0.02] * 8)
    rules = default_rules()
    want = sorted((x.function_name, x.rule, x.state, x.window_start_ms)
                  for fn, pts in (("orders-api", a), ("payments", b))
                  for x in evaluate_points(fn, pts, rules, T0 + 14 * MIN))
    assert len(want) == 4
    stream = TestStream()
    for m in range(14):  # each minute's points arrive, then the watermark passes the minute
        stream = stream.add_elements([beam.window.TimestampedValue(p, p.window_start_ms / 1000)
                                      for p in (a[m], b[m])])
        stream = stream.advance_watermark_to((T0 + (m + 1) * MIN) / 1000)
    stream = stream.advance_watermark_to_infinity()
    with beam.Pipeline(options=streaming()) as p:
        out = (p | stream | EvaluateAlarmsStreaming(rules)
               | beam.Map(lambda x: (x.function_name, x.rule, x.state, x.window_start_ms)))
        assert_that(out, equal_to(want))


def test_window_metrics_in_event_time_windows_matches_batch():
    rng = random.Random(3)
    invs = [Invocation(function_name="orders-api", request_id=str(i), function_version="1",
                       start_ms=T0 + rng.randrange(0, 3 * MIN), outcome=rng.choice(["success", "error"]),
                       duration_ms=rng.uniform(5, 90_000)) for i in range(200)]
    for inv in invs:
        inv.end_ms = int(inv.start_ms + inv.duration_ms)
    observations = [o for inv in invs for o in observe_invocation(inv)]
    want = sorted((p.window_start_ms, p.values["invocations"], p.values["errors"], p.values["max_concurrency"])
                  for p in window_points(observations))
    stream = (TestStream()
              .add_elements([beam.window.TimestampedValue(inv, inv.start_ms / 1000) for inv in invs])
              .advance_watermark_to_infinity())
    with beam.Pipeline(options=streaming()) as p:
        out = (p | stream | beam.FlatMap(observe_invocation) | WindowMetrics(streaming=True)
               | beam.Map(lambda pt: (pt.window_start_ms, pt.values["invocations"], pt.values["errors"],
                                      pt.values["max_concurrency"])))
        assert_that(out, equal_to(want))
