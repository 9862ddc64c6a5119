"""Alarms behind windows with allowed lateness (TestStream on BundleBasedDirectRunner).

A minute's metric point is emitted when the watermark passes the minute plus the lateness;
the alarm evaluator must wait as long before it evaluates that minute, or the minute would be
evaluated as missing and its late-closing point dropped as late. Observations of one minute
that arrive after the next minute has ended still count, and the transitions are exactly the
batch evaluation's.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from pipeline.detect.observation import Observation
from pipeline.metrics import window_points
from pipeline.rules import default_rules, evaluate_points
from pipeline.transforms.evaluate_alarms import EvaluateAlarmsStreaming
from pipeline.transforms.window_metrics import WindowMetrics

T0 = 1714557600000
MIN = 60_000
LATENESS = 3 * MIN


def minute(fn: str, m: int, errors: int, n: int = 20) -> list[Observation]:
    start = T0 + m * MIN
    return [Observation(function_name=fn, window_start_ms=start, start_ms=start + 100 * i, end_ms=start + 100 * i + 50,
                        outcome="error" if i < errors else "success", duration_ms=50.0) for i in range(n)]


def stamped(observations):
    return [TimestampedValue(o, o.start_ms / 1000) for o in observations]


def test_alarms_wait_for_the_windows_lateness_and_match_batch():
    errors = {3: 10, 4: 10, 5: 10, 6: 10}
    per_minute = {m: minute("orders-api", m, errors.get(m, 0)) for m in range(12)}
    late = per_minute[4][:10]             # minute 4's errors arrive after minute 5 has ended
    on_time = {m: [o for o in obs if not (m == 4 and o in late)] for m, obs in per_minute.items()}
    rules = default_rules()
    points = window_points([o for obs in per_minute.values() for o in obs])
    want = sorted((a.rule, a.state, a.window_start_ms) for a in evaluate_points("orders-api", points, rules, 2 ** 62))
    assert ("error-rate", "ALARM") in {(r, s) for r, s, _ in want} and ("error-rate", "OK") in {(r, s) for r, s, _ in want}

    stream = TestStream()
    for m in range(12):
        stream = stream.add_elements(stamped(on_time[m]))
        if m == 5:
            stream = stream.add_elements(stamped(late))
        stream = stream.advance_watermark_to((T0 + (m + 1) * MIN + 1) / 1000)
    # past every window and every missing minute the rules still look at, before the end of time
    # (at infinity the assertion's own global window is closed: what comes later is not seen)
    stream = stream.advance_watermark_to((T0 + 40 * MIN) / 1000).advance_watermark_to_infinity()
    opts = PipelineOptions(["--runner=BundleBasedDirectRunner"])
    opts.view_as(StandardOptions).streaming = True
    with beam.Pipeline(options=opts) as p:
        alarms = (p | stream | WindowMetrics(streaming=True, lateness_ms=LATENESS)
                  | EvaluateAlarmsStreaming(rules, lateness_ms=LATENESS))
        assert_that(alarms | beam.Map(lambda a: (a.rule, a.state, a.window_start_ms)), equal_to(want))
