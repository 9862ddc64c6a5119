"""Which local runner runs a splittable DoFn that checkpoints itself (as an endless source does)?

Measured here on a counter SDF that reads five positions per call and defers the rest:
- BundleBasedDirectRunner in streaming mode cannot even expand it (its SDF override leaves a
  GroupByKey the streaming overrides then refuse);
- BundleBasedDirectRunner in batch mode runs the first call and drops the deferred residual:
  5 of 20 positions, and the pipeline reports success;
- FnApiRunner resumes every residual (20 of 20) — but runs a stage to completion before the
  next, so an endless source would never let anything downstream run.
Hence: locally, streaming is a loop of bounded catch-up reads on FnApiRunner
(pipeline/streaming/catchup.py); the unbounded SDF is for Flink, Dataflow and Prism.
"""

import apache_beam as beam
import pytest
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.utils.timestamp import Duration

N = 20


class _Counter(RestrictionProvider):
    def initial_restriction(self, element):
        return OffsetRange(0, N)

    def create_tracker(self, restriction):
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element, restriction):
        return restriction.size()


class ReadFiveThenDefer(beam.DoFn):
    def process(self, element, tracker=beam.DoFn.RestrictionParam(_Counter())):
        pos = tracker.current_restriction().start
        out = []          # a list, not a generator: the direct runner checks done before iterating
        while len(out) < 5 and tracker.try_claim(pos):
            out.append(pos)
            pos += 1
        if pos < N:
            tracker.defer_remainder(Duration(seconds=0.01))
        return out


def direct(streaming: bool) -> PipelineOptions:
    opts = PipelineOptions(["--runner=BundleBasedDirectRunner"])
    opts.view_as(StandardOptions).streaming = streaming
    return opts


def test_bundle_based_direct_runner_cannot_expand_an_sdf_in_streaming_mode():
    p = beam.Pipeline(options=direct(streaming=True))
    _ = p | beam.Create(["x"]) | beam.ParDo(ReadFiveThenDefer())
    with pytest.raises(RuntimeError, match="was not replaced as expected"):
        p.run()


def test_bundle_based_direct_runner_drops_a_deferred_residual_in_batch_mode():
    with beam.Pipeline(options=direct(streaming=False)) as p:
        out = p | beam.Create(["x"]) | beam.ParDo(ReadFiveThenDefer())
        assert_that(out, equal_to(list(range(5))))   # 15 positions silently lost, and a success


def test_fn_api_runner_resumes_every_residual():
    with beam.Pipeline(runner=FnApiRunner()) as p:
        out = p | beam.Create(["x"]) | beam.ParDo(ReadFiveThenDefer())
        assert_that(out, equal_to(list(range(N))))
