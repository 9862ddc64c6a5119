"""StitchTracesStreaming on a streaming runner: a trace is emitted after a gap of event-time
silence, joined across a queue by its correlation id, and a late member re-emits the updated
trace with the same ids."""

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that

from pipeline.model import Invocation
from pipeline.transforms.stitch_traces import StitchTracesStreaming

T0 = 1714557600000
X1, X2 = "1-663212a0-a034d9eb42d9b30724dfa411", "1-663212a1-b39a045a174b129b81885dfb"
GAP = 60_000


def inv(fn, rid, start, dur, xray=None, corr=None, parent=None):
    return Invocation(function_name=fn, request_id=rid, log_group=f"/aws/lambda/{fn}", start_ms=T0 + start,
                      end_ms=T0 + start + dur, duration_ms=float(dur), outcome="success", xray_trace_id=xray,
                      correlation_ids=[corr] if corr else [], parent_request_id=parent)


def at(ms):
    return (T0 + ms) / 1000.0


def stamped(*invs):
    return [beam.window.TimestampedValue(i, i.start_ms / 1000.0) for i in invs]


def test_gap_timer_emits_the_joined_trace_and_a_late_member_re_emits_it_with_the_same_ids():
    api = inv("api", "r-api", 0, 500, X1, "c-1")
    orders = inv("orders", "r-orders", 20, 200, X1, "c-1", parent="r-api")
    payments = inv("payments", "r-pay", 30_000, 300, X2, "c-1")       # after the SQS hop: new X-Ray id
    late = inv("notifications", "r-notify", 30_100, 100, X2, parent="r-pay")  # arrives after emission
    other = inv("search", "r-search", 1_000, 50, "1-663212a2-000000000000000000000001")
    stream = (TestStream()
              .add_elements(stamped(api, orders, other))
              .advance_watermark_to(at(10_000))
              .add_elements(stamped(payments))
              .advance_watermark_to(at(30_300 + 3 * GAP))  # both segments silent: the trace is out
              .add_elements(stamped(late))
              .advance_watermark_to(at(30_300 + 6 * GAP))
              .advance_watermark_to_infinity())
    opts = PipelineOptions(runner="BundleBasedDirectRunner")
    opts.view_as(StandardOptions).streaming = True

    def check(spans):
        versions = {}
        for s in spans:
            versions.setdefault(s.trace_id, []).append(s)
        assert len(versions) == 2, versions.keys()
        chain = versions[X1[2:10] + X1[11:]]
        emitted = [s.request_id for s in chain]
        # first emission: api, orders, payments; the re-emission adds notifications
        assert sorted(emitted) == sorted(["r-api", "r-orders", "r-pay"] * 2 + ["r-notify"]), emitted
        ids = {}
        for s in chain:
            assert ids.setdefault(s.request_id, (s.span_id, s.parent_span_id)) == (s.span_id, s.parent_span_id)
        by_rid = {s.request_id: s for s in chain}
        assert by_rid["r-pay"].kind == "CONSUMER" and by_rid["r-pay"].parent_span_id == by_rid["r-orders"].span_id
        assert by_rid["r-notify"].parent_span_id == by_rid["r-pay"].span_id
        assert [s.request_id for s in versions[next(k for k in versions if k != chain[0].trace_id)]] == ["r-search"]

    with beam.Pipeline(options=opts) as p:
        spans = p | stream | StitchTracesStreaming(gap_ms=GAP, retention_ms=10 * GAP)
        assert_that(spans, check)
