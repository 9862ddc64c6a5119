"""The retry decision of AWS reads (pipeline/sources/aws_retry.py): what is retried, how long it
waits, when it gives up — with botocore's real exception classes."""

from __future__ import annotations

import random
import socket

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from pipeline.aws_errors import fault_kind
from pipeline.sources.aws_retry import Backoff, RetriesExhausted, call_with_backoff, decide, exhausted_in


def client_error(code: str, status: int = 400, message: str = "boom") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "GetRecords")


@pytest.mark.parametrize("exc, kind", [
    (client_error("ProvisionedThroughputExceededException"), "throttled"),
    (client_error("LimitExceededException"), "throttled"),
    (client_error("ExpiredIteratorException"), "expired_iterator"),
    (client_error("InternalFailure", 500), "server"),
    (client_error("ServiceUnavailable", 503), "server"),
    (client_error("500", 500), "server"),                 # a bare 5xx page: botocore's code is the status
    (client_error("SomethingNew", 502), "server"),
    (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "network"),
    (ConnectionClosedError(endpoint_url="http://127.0.0.1:9"), "network"),
    (ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), "network"),
    (ResponseStreamingError(error="IncompleteRead"), "network"),
    (ConnectionResetError(104, "Connection reset by peer"), "network"),
    (socket.timeout("timed out"), "network"),
])
def test_transient_faults_are_sorted_by_kind(exc, kind):
    assert fault_kind(exc) == kind


@pytest.mark.parametrize("exc", [
    client_error("AccessDeniedException"), client_error("ResourceNotFoundException"),
    client_error("ValidationException"), client_error("InvalidArgumentException"),
    ValueError("bad"), KeyError("ShardIterator"),
])
def test_everything_else_is_final(exc):
    assert fault_kind(exc) is None
    assert decide(exc, 0, 0.0, Backoff()) is None


def test_waits_grow_are_capped_and_jittered():
    b = Backoff(base_ms=100, cap_ms=2000, rng=random.Random(7))
    waits = [[b.delay_s(n) for _ in range(300)] for n in range(8)]
    assert all(0 <= w <= min(2.0, 0.1 * 2 ** n) for n, ws in enumerate(waits) for w in ws)
    assert max(waits[0]) <= 0.1 < max(waits[3])       # grows
    assert max(waits[7]) <= 2.0 and len(set(waits[7])) > 250   # capped, and spread (full jitter)
    assert b.delay_s(10_000) <= 2.0                    # no overflow far out


def test_an_expired_iterator_is_renewed_at_once_and_throttling_waits():
    b = Backoff(base_ms=100, cap_ms=1000)
    expired = decide(client_error("ExpiredIteratorException"), 0, 0.0, b)
    assert expired.renew_iterator and expired.delay_s == 0.0
    throttled = decide(client_error("ProvisionedThroughputExceededException"), 3, 0.0, b)
    assert not throttled.renew_iterator and throttled.kind == "throttled" and 0 <= throttled.delay_s <= 0.8


def test_bounded_by_attempts_and_by_time():
    b = Backoff(max_attempts=4, budget_s=10.0)
    fault = client_error("InternalFailure", 500)
    assert decide(fault, 2, 0.0, b) is not None
    assert decide(fault, 3, 0.0, b) is None            # the fourth call failed: no fifth
    assert decide(fault, 0, 10.5, b) is None           # out of time
    assert decide(client_error("ExpiredIteratorException"), 0, 9.99, b) is not None


def test_call_with_backoff_retries_then_gives_up_naming_what_and_the_last_error():
    slept, seen, calls = [], [], []

    def flaky():
        calls.append(1)
        raise [ConnectionResetError(104, "Connection reset by peer"), client_error("ServiceUnavailable", 503,
                                                                                   "try later")][len(calls) % 2]
    with pytest.raises(RetriesExhausted) as info:
        call_with_backoff(flaky, Backoff(max_attempts=5, base_ms=1), slept.append, seen.append,
                          what="Kinesis shard shardId-000000000001 of stream ingress", clock=lambda: 0.0)
    assert len(calls) == 5 and len(slept) == 4 and [r.kind for r in seen] == ["server", "network"] * 2
    assert str(info.value) == ("Kinesis shard shardId-000000000001 of stream ingress: gave up after 5 attempt(s) "
                               "over 0.0 s; last error: ServiceUnavailable: try later")
    assert isinstance(info.value.last, ClientError)


def test_a_final_error_is_raised_unchanged_after_transient_ones():
    answers = iter([client_error("ExpiredIteratorException"), client_error("AccessDeniedException")])

    def fn():
        raise next(answers)
    with pytest.raises(ClientError, match="AccessDenied"):
        call_with_backoff(fn, Backoff(), lambda s: None)


def test_the_exhausted_read_is_found_behind_a_runners_wrapping():
    failed = RetriesExhausted("Kinesis shard a of stream s", 3, 1.0, client_error("InternalFailure", 500))
    try:
        try:
            raise failed
        except RetriesExhausted as exc:
            raise RuntimeError(f"wrapped: {exc}") from exc
    except RuntimeError as wrapped:
        assert exhausted_in(wrapped) is failed
    assert exhausted_in(ValueError("x")) is None
