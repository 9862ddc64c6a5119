"""The pipeline's own health as MetricPoints: its iterator age and delivery delay, per minute. Pure.

Every read (a process call of the Kinesis reader: a bundle) measures now − the oldest
ApproximateArrivalTimestamp it read (``iterator_age_max_ms``) and the delivery delay its
watermark was held back by (``delivery_delay_ms``: the p99 of arrival − event time measured
per shard, within its floor and ``--delivery-delay``; ``pipeline.sources.delivery_delay``).
Those observations are kept as the maximum per minute of the time they were taken, field by
field; a minute is emitted as one MetricPoint (function ``coldtrace-pipeline``, source
``pipeline``) once it is over, which is what alarm rules on these figures read.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from pipeline.model import MetricPoint
from pipeline.windows import PIPELINE_FUNCTION, WINDOW_MS, window_start

# The version that keeps a minute's iterator-age point apart from the same minute's dead-letter
# point (both are ``coldtrace-pipeline``'s, source ``pipeline``; a point's id hashes the version).
AGE_VERSION = "iterator-age"
# The figures of a read that are folded per minute (the maximum of each).
HEALTH_FIGURES = ("iterator_age_max_ms", "delivery_delay_ms")


def minute_point(window_start_ms: int, values: Mapping[str, int]) -> MetricPoint:
    return MetricPoint(function_name=PIPELINE_FUNCTION, function_version=AGE_VERSION, window_start_ms=window_start_ms,
                       window_end_ms=window_start_ms + WINDOW_MS, source="pipeline",
                       values={k: int(v) for k, v in values.items()})


def age_point(window_start_ms: int, age_ms: int) -> MetricPoint:
    return minute_point(window_start_ms, {"iterator_age_max_ms": age_ms})


def max_values(values: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Field by field maximum of health figures (associative: Beam may combine partial results)."""
    out: dict[str, int] = {}
    for v in values:
        for name, x in v.items():
            if x is not None:
                out[name] = max(out.get(name, x), int(x))
    return out


def fold_minutes(open_minutes: Mapping[str, Mapping[str, int] | int], observations: Iterable[MetricPoint],
                 now_ms: int) -> tuple[dict[str, dict[str, int]], list[MetricPoint]]:
    """Add observations to the open minutes; return (minutes still open, points of closed minutes).

    Open minutes are ``{start ms: {figure: max}}`` (a checkpoint written before the delivery
    delay was measured holds a bare iterator age per minute: read as that one figure)."""
    minutes = {int(k): ({"iterator_age_max_ms": int(v)} if isinstance(v, (int, float)) else dict(v))
               for k, v in open_minutes.items()}
    for obs in observations:
        figures = {k: obs.values[k] for k in HEALTH_FIGURES if obs.values.get(k) is not None}
        if not figures:
            continue
        m = window_start(obs.window_end_ms)
        minutes[m] = max_values([minutes.get(m, {}), figures])
    closed = sorted(m for m in minutes if m + WINDOW_MS <= now_ms)
    points = [minute_point(m, minutes.pop(m)) for m in closed]
    return {str(m): v for m, v in minutes.items()}, points
