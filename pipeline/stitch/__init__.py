"""Traces from logs alone: join invocations by shared trace keys, build OpenTelemetry spans.

Pure (no Beam): ``keys`` (trace keys, union-find), ``spans`` (ids, parents, FaaS attributes),
``facts`` (trace-level facts), ``gap`` (an event-time, gap-bounded stitcher for streams).
"""

from pipeline.stitch.keys import KeyUnion, group_by_keys, segment_key, trace_keys
from pipeline.stitch.spans import trace_spans


def stitch(invocations) -> list[list]:
    """Every trace of a finite set of invocations, as lists of Spans (root first)."""
    return [trace_spans(members) for members in group_by_keys(invocations)]


__all__ = ["KeyUnion", "group_by_keys", "segment_key", "stitch", "trace_keys", "trace_spans"]
