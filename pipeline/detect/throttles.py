"""Throttling as callers see it: the throttle lines of a log stream, attributed to a function.

The parser tags lines with the ``throttle`` signal (TooManyRequestsException, Rate Exceeded,
ThrottlingException, ProvisionedThroughputExceededException, HTTP 429, SDK retry messages).
A throttled invocation leaves no line in the throttled function's own log, so callers' lines
are one of the two ways to see it (CloudWatch's Throttles metric is the other). A line that
names a Lambda function (its ARN, or ``FunctionName=``) counts as that function's throttle;
one that does not (DynamoDB, Kinesis, an HTTP API) counts as the caller's downstream throttle.
"""

from __future__ import annotations

import re
from typing import Iterable

from pipeline.detect.observation import DOWNSTREAM_THROTTLE, THROTTLED, WINDOW_MS, Observation, window_start
from pipeline.model import LogEvent

_LAMBDA_ARN = re.compile(r"arn:aws[\w-]*:lambda:[\w-]+:\d{12}:function:([A-Za-z0-9_-]{1,64})(?::([\w$-]{1,128}))?")
_FUNCTION_NAME = re.compile(r"""FunctionName["']?\s*[:=]\s*["']?([A-Za-z0-9_-]{1,64})\b""")


def throttle_target(text: str) -> tuple[str, str | None] | None:
    """(function name, qualifier or None) of the Lambda function a throttle line names."""
    m = _LAMBDA_ARN.search(text)
    if m:
        return m.group(1), m.group(2)
    m = _FUNCTION_NAME.search(text)
    if m and m.group(1) != "arn":
        return m.group(1), None
    return None


def observe_throttles(events: Iterable[LogEvent], window_ms: int = WINDOW_MS) -> list[Observation]:
    """One Observation per parsed event carrying the ``throttle`` signal."""
    out: list[Observation] = []
    for ev in events:
        p = ev.parsed
        if p is None or "throttle" not in p.signals:
            continue
        w = window_start(ev.timestamp, window_ms)
        target = throttle_target(ev.message)
        if target is not None:
            name, qualifier = target
            version = qualifier if qualifier and (qualifier.isdigit() or qualifier == "$LATEST") else None
            out.append(Observation(function_name=name, window_start_ms=w, kind=THROTTLED,
                                   function_version=version, account=ev.account, region=ev.region))
        else:
            out.append(Observation(function_name=ev.function_name or ev.log_group, window_start_ms=w,
                                   kind=DOWNSTREAM_THROTTLE, function_version=ev.function_version,
                                   account=ev.account, region=ev.region))
    return out
