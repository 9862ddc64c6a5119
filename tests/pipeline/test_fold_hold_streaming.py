"""The keyed-state fold (BuildInvocationsStreaming) with the real Datadog stream whose "Task timed
out" line CloudWatch stored after the REPORT, delivered as one payload: a timeout, as in batch."""

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to

from pipeline.parse import parse_event
from pipeline.transforms.build_invocations import BuildInvocationsStreaming
from tests.unit.test_real_invocations import DD_TIMEOUT_RID, datadog_timeout_events


def test_keyed_state_fold_reads_the_timeout_line_after_the_report():
    events = [parse_event(ev) for ev in datadog_timeout_events()]
    t0 = events[0].timestamp / 1000
    stream = (TestStream()
              .add_elements([beam.window.TimestampedValue(events, t0)])
              .advance_watermark_to(t0 + 60)
              .advance_watermark_to_infinity())
    opts = PipelineOptions(runner="BundleBasedDirectRunner")
    opts.view_as(StandardOptions).streaming = True
    with beam.Pipeline(options=opts) as p:
        out = (p | stream | BuildInvocationsStreaming()
               | beam.Map(lambda i: (i.request_id, i.outcome, i.error_type, i.log_count)))
        assert_that(out, equal_to([(DD_TIMEOUT_RID, "timeout", "Sandbox.Timedout", 4)]))
