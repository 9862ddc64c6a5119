"""Detectors over one Invocation: failure kind, memory and duration pressure, its interval."""

from __future__ import annotations

import re

from pipeline.detect.observation import INVOCATION, RUNNING, WINDOW_MS, Observation, window_start
from pipeline.model import Invocation

FAILURES = ("error", "timeout", "out_of_memory", "crash")  # what CloudWatch's Errors metric counts
COMPLETED = ("success", "error")                          # the handler returned (not killed, not timed out)
MAX_SPAN_WINDOWS = 16  # Lambda runs at most 15 minutes: a longer span is a clock problem, not load

_TIMED_OUT = re.compile(r"Task timed out after (\d+(?:\.\d+)?) seconds")


def timeout_limit_ms(inv: Invocation) -> float | None:
    """The function's configured timeout as a timed-out invocation reveals it.

    Text logs say it ("Task timed out after 3.00 seconds"); the JSON format does not, but a
    timed-out invocation ran for the timeout plus a few milliseconds, and timeouts are whole
    seconds, so the duration's whole seconds are the timeout.
    """
    if inv.outcome != "timeout":
        return None
    if inv.error_message:
        m = _TIMED_OUT.search(inv.error_message)
        if m:
            return float(m.group(1)) * 1000.0
    if inv.duration_ms is not None and inv.duration_ms >= 1000:
        return float(int(inv.duration_ms // 1000) * 1000)
    return None


def memory_pressure(inv: Invocation) -> float | None:
    """Max memory used / memory size of an invocation that survived.

    An out-of-memory kill reports Max Memory Used = Memory Size; it is counted as an OOM, and
    leaving it out here keeps this figure the early warning it is meant to be."""
    if inv.outcome == "out_of_memory" or not inv.memory_size_mb or inv.max_memory_used_mb is None:
        return None
    return inv.max_memory_used_mb / inv.memory_size_mb


def observe_invocation(inv: Invocation, window_ms: int = WINDOW_MS) -> list[Observation]:
    """The invocation in the window it started in, plus one RUNNING observation per later
    window it overlaps (so concurrency counts it there too)."""
    start = inv.start_ms if inv.start_ms is not None else inv.end_ms
    if start is None:
        return []
    end = inv.end_ms if inv.end_ms is not None and inv.end_ms >= start else start
    end = min(end, start + MAX_SPAN_WINDOWS * window_ms)
    w = window_start(start, window_ms)
    cold = inv.cold_start
    first = Observation(
        function_name=inv.function_name, window_start_ms=w, kind=INVOCATION,
        function_version=inv.function_version, account=inv.account, region=inv.region,
        start_ms=start, end_ms=min(end, w + window_ms), outcome=inv.outcome, cold_start=cold,
        init_ms=(inv.init_duration_ms or inv.restore_duration_ms) if cold else None,
        duration_ms=inv.duration_ms, memory_utilization=memory_pressure(inv),
        cost_usd=inv.estimated_cost_usd, timeout_limit_ms=timeout_limit_ms(inv))
    out = [first]
    w += window_ms
    while w < end:
        out.append(Observation(function_name=inv.function_name, window_start_ms=w, kind=RUNNING,
                               function_version=inv.function_version, account=inv.account,
                               region=inv.region, start_ms=w, end_ms=min(end, w + window_ms)))
        w += window_ms
    return out
