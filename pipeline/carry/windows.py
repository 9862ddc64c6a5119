"""One-minute metric windows carried across catch-up reads, with allowed lateness. Pure.

The figures of a (function, version, minute) window are ``pipeline.metrics.WindowFigures``
(the same mergeable accumulator the Beam combine uses). A window is emitted on time, as one
MetricPoint, as soon as the watermark passes its end: an alarm is not held back by the allowed
lateness. Its figures are kept for the allowed lateness plus ``CORRECTION_MS``: an observation
that arrives after the point was emitted (a late line, a crash or an unfinished request the fold
could only close late) is added, and the point is emitted again, corrected, with the same
document id (the metrics index is written with ``index``: the last version wins; the loop
re-evaluates the minute's alarms, ``pipeline.rules.evaluate``). An observation later than that is counted as dropped, never silently.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass

from pipeline.detect.observation import Observation
from pipeline.metrics import WindowFigures
from pipeline.model import MetricPoint
from pipeline.windows import ALLOWED_LATENESS_MS, CORRECTION_MS, draining, window_closed, window_expired


@dataclass(slots=True)
class WindowStep:
    point: MetricPoint | None = None   # the window, emitted (first time or corrected)
    state: bytes | None = None         # the window, still open or still correctable
    late: int = 0                      # observations behind every correction, dropped
    corrected: bool = False            # ``point`` replaces one emitted before


def _load(old_state: bytes | None) -> tuple[WindowFigures, bool]:
    """(figures, emitted already). A checkpoint written before corrections holds bare figures."""
    if not old_state:
        return WindowFigures(), False
    loaded = pickle.loads(old_state)
    return (loaded, False) if isinstance(loaded, WindowFigures) else loaded


def resume_window(key: tuple[str, str | None, int], old_state: bytes | None, observations: list[Observation],
                  watermark_ms: int | None, lateness_ms: int = ALLOWED_LATENESS_MS,
                  correction_ms: int = CORRECTION_MS) -> WindowStep:
    """Add a window's new observations to its carried figures; emit it once it is closed, and
    again (corrected) when observations arrive while it is still correctable."""
    fn, version, start = key
    if old_state is None and window_expired(start, watermark_ms, lateness_ms, correction_ms) and not draining(watermark_ms):
        return WindowStep(late=len(observations))
    figures, emitted = _load(old_state)
    figures.add_all(observations)
    if not window_closed(start, watermark_ms, 0):   # on time: at the window's end
        return WindowStep(state=pickle.dumps((figures, False), protocol=pickle.HIGHEST_PROTOCOL))
    step = WindowStep(corrected=emitted and bool(observations))
    if not emitted or observations:
        step.point = figures.to_point(fn, version, start)
    if not window_expired(start, watermark_ms, lateness_ms, correction_ms):
        step.state = pickle.dumps((figures, True), protocol=pickle.HIGHEST_PROTOCOL)
    return step
