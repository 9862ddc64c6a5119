"""Observation: the small record detectors hand to the window metrics."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.windows import WINDOW_MS, window_start

# kinds of Observation
INVOCATION = "invocation"                    # one invocation, counted in the window it started in
RUNNING = "running"                          # an invocation still running in a later window (concurrency only)
THROTTLED = "throttled"                      # this function was throttled (seen in a caller's log)
DOWNSTREAM_THROTTLE = "downstream_throttle"  # this function's own call to some service was throttled
DEAD_LETTER = "dead_letter"                  # coldtrace could not read or fold a record (coldtrace-pipeline)

__all__ = ["WINDOW_MS", "window_start", "INVOCATION", "RUNNING", "THROTTLED", "DOWNSTREAM_THROTTLE", "DEAD_LETTER",
           "Observation"]


@dataclass(slots=True)
class Observation:
    """What one invocation (or one throttle line) adds to one function's one-minute window.

    ``start_ms``/``end_ms`` are the part of the invocation inside this window, for concurrency.
    Figures the source did not give stay None and are left out of the window's figures.
    """

    function_name: str
    window_start_ms: int
    kind: str = INVOCATION
    function_version: str | None = None
    account: str | None = None
    region: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    outcome: str | None = None
    cold_start: bool = False
    init_ms: float | None = None
    duration_ms: float | None = None
    memory_utilization: float | None = None
    cost_usd: float | None = None
    timeout_limit_ms: float | None = None

    def key(self) -> tuple[str, str | None, int]:
        """The window metrics key: function, version, window start."""
        return self.function_name, self.function_version, self.window_start_ms
