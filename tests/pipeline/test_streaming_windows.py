"""Event-time windows of the streaming graph on BundleBasedDirectRunner, driven by TestStream.

A one-minute window stays open until the watermark passes its end plus the allowed lateness:
late data within the lateness still counts, the window then fires exactly once (one on-time,
final pane: one document), and data behind the lateness is dropped by the runner.
"""

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.windowed_value import PaneInfoTiming

from pipeline.detect.invocation import observe_invocation
from pipeline.detect.observation import Observation
from pipeline.model import LogEvent, MetricPoint
from pipeline.transforms.build_invocations import BuildInvocationsStreaming
from pipeline.transforms.parse_log_events import ParseLogEvents
from pipeline.transforms.window_metrics import IteratorAgePerMinute, WindowMetrics
from pipeline.windows import CORRECTION_MS, UNFINISHED_AFTER_MS

LATENESS_MS = 120_000
T0 = 1714557600          # 2024-05-01T10:00:00Z, seconds


def streaming() -> PipelineOptions:
    opts = PipelineOptions(["--runner=BundleBasedDirectRunner"])
    opts.view_as(StandardOptions).streaming = True
    return opts


def age(at_s: float, value: int) -> TimestampedValue:
    ms = int(at_s * 1000)
    return TimestampedValue(MetricPoint("coldtrace-pipeline", ms, ms, source="pipeline",
                                        values={"iterator_age_max_ms": value}), at_s)


class _Pane(beam.DoFn):
    def process(self, point, pane=beam.DoFn.PaneInfoParam):
        yield point.window_start_ms, point.values["iterator_age_max_ms"], pane.timing, pane.is_first, pane.is_last


def test_iterator_age_window_waits_for_the_lateness_then_fires_once_without_what_came_later():
    stream = (TestStream()
              .add_elements([age(T0 + 10, 500), age(T0 + 20, 700)])
              .advance_watermark_to(T0 + 61)                      # the minute is over...
              .add_elements([age(T0 + 30, 9_000)])                # ...but this is within the lateness
              .advance_watermark_to(T0 + 60 + 119)
              .add_elements([age(T0 + 70, 40)])                   # the next minute, on time
              .advance_watermark_to(T0 + 60 + 121)                # minute 0 closes: fires once
              .add_elements([age(T0 + 40, 99_999)])               # behind the lateness: dropped
              .advance_watermark_to_infinity())
    with beam.Pipeline(options=streaming()) as p:
        out = p | stream | IteratorAgePerMinute(LATENESS_MS) | beam.ParDo(_Pane())
        on_time = PaneInfoTiming.ON_TIME
        assert_that(out, equal_to([(T0 * 1000, 9_000, on_time, True, True),
                                   ((T0 + 60) * 1000, 40, on_time, True, True)]))


def obs(fn: str, minute: int, outcome: str = "success", cold: bool = False) -> TimestampedValue:
    start = (T0 + 60 * minute) * 1000
    o = Observation(function_name=fn, window_start_ms=start, start_ms=start + 5, end_ms=start + 50,
                    outcome=outcome, cold_start=cold, duration_ms=45.0)
    return TimestampedValue(o, start / 1000 + 5)


def test_window_metrics_fire_on_time_then_correct_for_late_invocations():
    stream = (TestStream()
              .add_elements([obs("orders", 0, cold=True), obs("orders", 0), obs("users", 0, "error")])
              .advance_watermark_to(T0 + 100)                     # minute 0 fires on time
              .add_elements([obs("orders", 0, "timeout")])        # late, within the lateness: corrected
              .advance_watermark_to(T0 + 60 + 121)
              .add_elements([obs("orders", 0, "crash")])          # behind the lateness: corrected too
              .add_elements([obs("orders", 3)])
              .advance_watermark_to(T0 + 60 + 121 + CORRECTION_MS // 1000 + 1)
              .add_elements([obs("orders", 0, "crash")])          # behind every correction: dropped
              .advance_watermark_to_infinity())
    with beam.Pipeline(options=streaming()) as p:
        points = p | stream | WindowMetrics(streaming=True, lateness_ms=LATENESS_MS)
        figures = points | beam.Map(lambda m: (m.function_name, m.window_start_ms, m.values["invocations"],
                                               m.values["errors"], m.values["timeouts"], m.values["crashes"],
                                               m.values["cold_starts"]))
        assert_that(figures, equal_to([("orders", T0 * 1000, 2, 0, 0, 0, 1),     # on time
                                       ("orders", T0 * 1000, 3, 1, 1, 0, 1),     # corrections: same id
                                       ("orders", T0 * 1000, 4, 2, 1, 1, 1),
                                       ("users", T0 * 1000, 1, 1, 0, 0, 0),
                                       ("orders", (T0 + 180) * 1000, 1, 0, 0, 0, 0)]))


STREAM = "2024/05/01/[$LATEST]0225597e48f74a659916f0e482df5b92"


def line(i: int, at_ms: int, msg: str) -> LogEvent:
    return LogEvent(id=str(10**6 + i), timestamp=T0 * 1000 + at_ms, message=msg, log_group="/aws/lambda/orders",
                    log_stream=STREAM, function_name="orders", function_version="$LATEST")


def rid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def report(i: int, at_ms: int, n: int) -> LogEvent:
    return line(i, at_ms, f"REPORT RequestId: {rid(n)}\tDuration: 10.0 ms\tBilled Duration: 10 ms\t"
                          "Memory Size: 128 MB\tMax Memory Used: 60 MB\t\n")


def test_late_report_completes_its_invocation_and_counts_in_its_minute():
    """Parse → stateful fold → windows: a REPORT delivered late (the watermark is past its
    START's minute, within the lateness) still completes the invocation and counts in the
    minute the invocation started in; a whole invocation delivered after its minute closed is
    indexed and counted in a corrected point for its minute."""
    first = [line(1, 1_000, f"START RequestId: {rid(1)} Version: $LATEST\n"),
             line(2, 2_000, f"END RequestId: {rid(1)}\n")]
    late = [report(3, 2_001, 1)]
    too_late = [line(4, 5_000, f"START RequestId: {rid(2)} Version: $LATEST\n"), report(5, 5_010, 2)]
    stream = (TestStream()
              .add_elements([TimestampedValue(first, T0 + 2)])
              .advance_watermark_to(T0 + 90)
              .add_elements([TimestampedValue(late, T0 + 2)])
              .advance_watermark_to(T0 + 60 + 121)
              .add_elements([TimestampedValue(too_late, T0 + 5)])
              .advance_watermark_to_infinity())
    with beam.Pipeline(options=streaming()) as p:
        invocations = p | stream | ParseLogEvents() | BuildInvocationsStreaming()
        assert_that(invocations | "Ids" >> beam.Map(lambda i: (i.request_id, i.outcome)),
                    equal_to([(rid(1), "success"), (rid(2), "success")]), label="AllInvocations")
        counted = (invocations | beam.FlatMap(observe_invocation) | WindowMetrics(streaming=True, lateness_ms=LATENESS_MS)
                   | beam.Map(lambda m: (m.window_start_ms, m.values["invocations"])))
        assert_that(counted, equal_to([(T0 * 1000, 1), (T0 * 1000, 2)]), label="CountedInTimeThenCorrected")


def test_an_unfinished_invocation_flushed_by_the_timer_corrects_its_minute():
    """Parse → stateful fold → windows: a request that never reports is flushed by the fold's
    timer 15 minutes after the stream went quiet, long after its minute's window closed; it
    lands in that minute as a corrected point (same id), as a batch run counts it."""
    quiet = [line(1, 1_000, f"START RequestId: {rid(1)} Version: $LATEST\n"),
             line(2, 1_500, f"{rid(1)}\tINFO\tstill working\n")]
    stream = (TestStream()
              .add_elements([TimestampedValue(quiet, T0 + 1)])
              .advance_watermark_to(T0 + 60 + LATENESS_MS // 1000 + 1)     # the minute closes, still empty
              .advance_watermark_to(T0 + (UNFINISHED_AFTER_MS + 2 * 60_000) // 1000)  # the fold's timer fires
              .advance_watermark_to_infinity())
    with beam.Pipeline(options=streaming()) as p:
        invocations = p | stream | ParseLogEvents() | BuildInvocationsStreaming()
        counted = (invocations | beam.FlatMap(observe_invocation) | WindowMetrics(streaming=True, lateness_ms=LATENESS_MS)
                   | beam.Map(lambda m: (m.window_start_ms, m.values["invocations"])))
        assert_that(counted, equal_to([(T0 * 1000, 1)]), label="CountedLate")
        assert_that(invocations | beam.Map(lambda i: i.outcome), equal_to(["unfinished"]), label="Unfinished")
