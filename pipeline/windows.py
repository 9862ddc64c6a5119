"""Event-time constants and window arithmetic, in one home. Pure (no Beam).

Every mode (batch, the local catch-up loop, the endless graph) reads its window length,
lateness and flush delays from here, so the modes cannot drift apart on them.
"""

from __future__ import annotations

# Metric windows are one minute of event time, like CloudWatch's finest period.
WINDOW_MS = 60_000
# A minute's metric point is emitted once the watermark has passed its end plus this much.
ALLOWED_LATENESS_MS = 5 * 60_000
# The watermark trails the newest event read by this much: CloudWatch's delivery latency.
DELIVERY_DELAY_MS = 60_000
# Lambda's maximum timeout is 15 minutes: a request silent for longer than that never reports.
UNFINISHED_AFTER_MS = 15 * 60_000
# An environment initialised ahead of demand (provisioned concurrency) may idle for hours
# before its first request; its init is kept this long so that request is classified right.
PENDING_INIT_TTL_MS = 4 * 60 * 60_000
# Lambda's old-style "Task timed out after N seconds" line can be stored AFTER its REPORT (same
# CloudWatch timestamp, later event id: DataDog/datadog-serverless-functions' timeout fixture,
# and streams pasted in public issues from 2016 to 2023 show the two in the same millisecond).
# The fold holds a finished invocation this long past its REPORT's timestamp so such a line still
# makes it a timeout; a second of margin, against the 60 s the watermark trails by.
TIMEOUT_LINE_GRACE_MS = 1_000
# After a minute's point is emitted, its figures are kept this much longer: an invocation the
# fold can only close late (a crash, an unfinished request, a REPORT after the window closed)
# still lands in its minute, as a corrected point with the same document id. Lambda runs at most
# 15 minutes and the fold flushes a silent stream 15 minutes after its last line: 30 minutes.
CORRECTION_MS = 2 * UNFINISHED_AFTER_MS
# What a drain flushes with: past every window and timer (the end of the input: nothing is late).
END_OF_TIME_MS = 2 ** 62
# The architecture a function is billed at when the run was not told otherwise.
DEFAULT_ARCHITECTURE = "x86_64"
# The MetricPoint.function_name of coldtrace's own health (dead letters, iterator age).
PIPELINE_FUNCTION = "coldtrace-pipeline"


def window_start(ms: int, window_ms: int = WINDOW_MS) -> int:
    return ms - ms % window_ms


def window_closed(window_start_ms: int, watermark_ms: int | None, lateness_ms: int = ALLOWED_LATENESS_MS) -> bool:
    """Has the watermark passed the window's end plus the allowed lateness (its point is due)?"""
    return watermark_ms is not None and window_start_ms + WINDOW_MS + lateness_ms <= watermark_ms


def window_expired(window_start_ms: int, watermark_ms: int | None, lateness_ms: int = ALLOWED_LATENESS_MS,
                   correction_ms: int = CORRECTION_MS) -> bool:
    """Is the window past every correction too (its figures can be forgotten)?"""
    return watermark_ms is not None and window_start_ms + WINDOW_MS + lateness_ms + correction_ms <= watermark_ms


def draining(watermark_ms: int | None) -> bool:
    """The end of the input (a drain): every window closes now, and nothing is late."""
    return watermark_ms is not None and watermark_ms >= END_OF_TIME_MS


def architecture_lookup(architectures: dict[str, str]):
    """``function name -> architecture`` for the fold's cost estimate (default x86_64)."""
    get = architectures.get
    return lambda fn: get(fn, DEFAULT_ARCHITECTURE)
