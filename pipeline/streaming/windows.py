"""One-minute metric windows carried across catch-up reads, with allowed lateness. Pure.

The figures of a (function, version, minute) window are ``pipeline.metrics.WindowFigures``
(the same mergeable accumulator the Beam combine uses). A window stays open while the
watermark is before its end plus the allowed lateness, so observations that arrive late but
within the lateness still count; then it is emitted once, as one MetricPoint. An observation
for a window already emitted is later than allowed: it is counted as dropped (as Beam drops
data behind the allowed lateness), never silently.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass

from pipeline.detect.observation import WINDOW_MS, Observation
from pipeline.metrics import WindowFigures
from pipeline.model import MetricPoint

ALLOWED_LATENESS_MS = 5 * 60_000


@dataclass(slots=True)
class WindowStep:
    point: MetricPoint | None = None   # the window, emitted
    state: bytes | None = None         # the window, still open
    late: int = 0                      # observations behind the allowed lateness, dropped


def window_closed(window_start_ms: int, watermark_ms: int | None, lateness_ms: int = ALLOWED_LATENESS_MS) -> bool:
    return watermark_ms is not None and window_start_ms + WINDOW_MS + lateness_ms <= watermark_ms


def resume_window(key: tuple[str, str | None, int], old_state: bytes | None, observations: list[Observation],
                  watermark_ms: int | None, lateness_ms: int = ALLOWED_LATENESS_MS) -> WindowStep:
    """Add a window's new observations to its carried figures; emit it once it is closed."""
    fn, version, start = key
    closed = window_closed(start, watermark_ms, lateness_ms)
    if old_state is None and closed:
        return WindowStep(late=len(observations))
    figures: WindowFigures = pickle.loads(old_state) if old_state else WindowFigures()
    figures.add_all(observations)
    if closed:
        return WindowStep(point=figures.to_point(fn, version, start))
    return WindowStep(state=pickle.dumps(figures, protocol=pickle.HIGHEST_PROTOCOL))
