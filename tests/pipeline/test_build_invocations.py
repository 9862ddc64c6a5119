"""BuildInvocations on TestPipeline: batches of one stream split across payloads (and one
delivered twice) are grouped, de-duplicated, parsed and folded into one invocation per request."""

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.model import LogEvent
from pipeline.transforms.build_invocations import BuildInvocations, GroupByLogStream
from pipeline.transforms.parse_log_events import ParseLogEvents

T0 = 1714557600000


def stream_events(stream: str, n_requests: int, cold: bool) -> list[LogEvent]:
    out, t, i = [], T0, 0

    def add(msg: str) -> None:
        nonlocal t, i
        i += 1
        t += 10
        out.append(LogEvent(id=f"{10**9 + i}", timestamp=t, message=msg, log_group="/aws/lambda/orders",
                            log_stream=f"2024/05/01/[$LATEST]{stream}", function_name="orders"))

    if cold:
        add("INIT_START Runtime Version: python:3.12.v38\tRuntime Version ARN: arn:x\n")
    for r in range(n_requests):
        rid = f"{stream[:8]}-0000-4000-8000-{r:012d}"
        add(f"START RequestId: {rid} Version: $LATEST\n")
        add(f"[INFO]\t2024-05-01T10:00:00.000Z\t{rid}\twork {r}\n")
        add(f"END RequestId: {rid}\n")
        init = "Init Duration: 200.00 ms\t" if cold and r == 0 else ""
        add(f"REPORT RequestId: {rid}\tDuration: 5.00 ms\tBilled Duration: 6 ms\tMemory Size: 128 MB\t"
            f"Max Memory Used: 50 MB\t{init}\n")
    return out


def test_build_invocations_from_split_and_redelivered_batches():
    a = stream_events("a" * 32, 3, cold=True)
    b = stream_events("b" * 32, 2, cold=False)
    batches = [a[:5], b, a[5:], a[3:8]]  # stream a split in two payloads, part of it re-delivered
    options = PipelineOptions(runner="apache_beam.runners.portability.fn_api_runner.FnApiRunner")
    with TestPipeline(options=options) as p:
        invocations = (p | beam.Create(batches)
                       | GroupByLogStream() | ParseLogEvents() | BuildInvocations())
        assert_that(invocations | beam.Map(lambda i: (i.request_id[:8], i.request_id[-1], i.cold_start_kind,
                                                      i.outcome, i.log_count)),
                    equal_to([("aaaaaaaa", "0", "on-demand", "success", 4), ("aaaaaaaa", "1", "none", "success", 4),
                              ("aaaaaaaa", "2", "none", "success", 4), ("bbbbbbbb", "0", "none", "success", 4),
                              ("bbbbbbbb", "1", "none", "success", 4)]))
