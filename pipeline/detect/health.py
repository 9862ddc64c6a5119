"""The pipeline's own health as MetricPoints: its iterator age, per minute. Pure.

Every read (a process call of the Kinesis reader: a bundle) measures now − the oldest
ApproximateArrivalTimestamp it read. Those observations are kept as the maximum per minute
of the time they were taken; a minute is emitted as one MetricPoint (function
``coldtrace-pipeline``, source ``pipeline``, ``iterator_age_max_ms``) once it is over, which
is what alarm rules on ``iterator_age_max_ms`` read.
"""

from __future__ import annotations

from typing import Iterable

from pipeline.model import MetricPoint
from pipeline.windows import PIPELINE_FUNCTION, WINDOW_MS, window_start

# The version that keeps a minute's iterator-age point apart from the same minute's dead-letter
# point (both are ``coldtrace-pipeline``'s, source ``pipeline``; a point's id hashes the version).
AGE_VERSION = "iterator-age"


def age_point(window_start_ms: int, age_ms: int) -> MetricPoint:
    return MetricPoint(function_name=PIPELINE_FUNCTION, function_version=AGE_VERSION, window_start_ms=window_start_ms,
                       window_end_ms=window_start_ms + WINDOW_MS, source="pipeline",
                       values={"iterator_age_max_ms": int(age_ms)})


def fold_minutes(open_minutes: dict[str, int], observations: Iterable[MetricPoint],
                 now_ms: int) -> tuple[dict[str, int], list[MetricPoint]]:
    """Add observations to the open minutes; return (minutes still open, points of closed minutes)."""
    minutes = {int(k): v for k, v in open_minutes.items()}
    for obs in observations:
        age = obs.values.get("iterator_age_max_ms")
        if age is None:
            continue
        m = window_start(obs.window_end_ms)
        minutes[m] = max(minutes.get(m, 0), int(age))
    closed = sorted(m for m in minutes if m + WINDOW_MS <= now_ms)
    points = [age_point(m, minutes.pop(m)) for m in closed]
    return {str(m): v for m, v in minutes.items()}, points
