"""The stream fold in keyed state on a streaming runner: REPORTs complete invocations as they
arrive, and the event-time timer flushes a request whose REPORT never came as ``unfinished``."""

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to

from pipeline.model import LogEvent
from pipeline.parse import parse_event
from pipeline.transforms.build_invocations import BuildInvocationsStreaming

STREAM = "2024/05/01/[$LATEST]0225597e48f74a659916f0e482df5b92"
T0 = 1714557600000


def ev(i: int, at_ms: int, msg: str) -> LogEvent:
    return parse_event(LogEvent(id=str(10**6 + i), timestamp=T0 + at_ms, message=msg, log_group="/aws/lambda/orders",
                                log_stream=STREAM, function_name="orders"))


def rid(n):
    return f"00000000-0000-4000-8000-{n:012d}"


def test_streaming_fold_with_timer_flush():
    first = [ev(1, 0, "INIT_START Runtime Version: python:3.12.v38\tRuntime Version ARN: a\n"),
             ev(2, 300, f"START RequestId: {rid(1)} Version: $LATEST\n")]
    second = [ev(3, 400, f"REPORT RequestId: {rid(1)}\tDuration: 100.0 ms\tBilled Duration: 400 ms\t"
                         "Memory Size: 128 MB\tMax Memory Used: 60 MB\tInit Duration: 280.00 ms\t\n"),
              ev(4, 60_000, f"START RequestId: {rid(2)} Version: $LATEST\n")]
    stream = (TestStream()
              .add_elements([beam.window.TimestampedValue(first, T0 / 1000)])
              .advance_watermark_to(T0 / 1000 + 1)
              .add_elements([beam.window.TimestampedValue(second, T0 / 1000 + 60)])
              .add_elements([beam.window.TimestampedValue(second[:1], T0 / 1000 + 61)])  # redelivered
              .advance_watermark_to(T0 / 1000 + 60 * 60)
              .advance_watermark_to_infinity())
    opts = PipelineOptions(runner="BundleBasedDirectRunner")
    opts.view_as(StandardOptions).streaming = True
    with beam.Pipeline(options=opts) as p:
        out = (p | stream | BuildInvocationsStreaming()
               | beam.Map(lambda i: (i.request_id, i.outcome, i.cold_start_kind)))
        assert_that(out, equal_to([(rid(1), "success", "on-demand"), (rid(2), "unfinished", "none")]))
