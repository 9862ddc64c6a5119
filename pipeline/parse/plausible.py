"""Plausibility of what a log line claims: REPORT numbers and event times.

A REPORT line is data written by the platform, but a copy-paste, a broken shipper or a hostile
sender can claim a negative duration, 2 TB of memory or ``nan`` ms. One such number would poison
every percentile and cost figure downstream, so the parser keeps the invocation and the raw line
but drops the impossible numbers (they become unknown, ``None``) and flags the line with the
signal ``implausible_report``. Limits are Lambda's own: a timeout of at most 15 minutes, memory
from 128 to 10,240 MB.

Event times are the data too, so they are never rewritten: a timestamp before CloudWatch Logs
subscriptions and Lambda existed (2014), or more than a day ahead of the clock of the machine
that parses it, is flagged ``clock_skew``. Rendering clamps what cannot be written as an ISO date
(``pipeline.model.iso_ms``), so nothing downstream crashes on year 33658.
"""

from __future__ import annotations

import time

from pipeline.model import PlatformRecord

MAX_DURATION_MS = 900_000.0          # Lambda's maximum timeout, 15 minutes
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10_240
# Each field's upper bound. Billed Duration includes a billed init (on-demand, since 2025), so it
# may exceed the duration; twice the maximum timeout is more than any real invocation bills.
LIMITS: dict[str, float] = {
    "duration_ms": MAX_DURATION_MS,
    "billed_duration_ms": 2 * MAX_DURATION_MS,
    "init_duration_ms": MAX_DURATION_MS,
    "restore_duration_ms": MAX_DURATION_MS,
    "billed_restore_duration_ms": MAX_DURATION_MS,
    "memory_size_mb": MAX_MEMORY_MB,
    "max_memory_used_mb": MAX_MEMORY_MB,
}

MIN_EVENT_MS = 1_388_534_400_000     # 2014-01-01T00:00:00Z
FUTURE_SLACK_MS = 24 * 3600 * 1000   # a day ahead of this machine's clock


def implausible_fields(rec: PlatformRecord) -> list[str]:
    """Names of the record's numbers that no real Lambda invocation can have (NaN included)."""
    bad: list[str] = []
    d = rec.__dict__  # sparse records hold only the fields they set
    for name, cap in LIMITS.items():
        value = d.get(name)
        if value is not None and not 0 <= value <= cap:  # NaN fails both comparisons
            bad.append(name)
    mem = d.get("memory_size_mb")
    if mem is not None and mem < MIN_MEMORY_MB and "memory_size_mb" not in bad:
        bad.append("memory_size_mb")
    return bad


_LIMIT_ITEMS = tuple(LIMITS.items())


def drop_implausible(rec: PlatformRecord) -> bool:
    """Set the impossible numbers of ``rec`` to None; True when there were any."""
    d = rec.__dict__
    for name, cap in _LIMIT_ITEMS:  # the common case, every number plausible, in one quick pass
        value = d.get(name)
        if value is not None and not 0 <= value <= cap:
            break
    else:
        mem = d.get("memory_size_mb")
        if mem is None or mem >= MIN_MEMORY_MB:
            return False
    for name in implausible_fields(rec):
        setattr(rec, name, None)
    return True


def clock_skewed(timestamp_ms: int, now_ms: float | None = None) -> bool:
    """True for an event time before 2014 or more than a day ahead of ``now_ms`` (default: now)."""
    if timestamp_ms < MIN_EVENT_MS:
        return True
    now = time.time() * 1000.0 if now_ms is None else now_ms
    return timestamp_ms > now + FUTURE_SLACK_MS
