"""A dead letter as an Observation of coldtrace's own minute (function ``coldtrace-pipeline``).

Dead letters are counted by the same window metrics as every other signal, so each mode that
windows observations (batch, the catch-up loop, the endless graph) writes the
``aws.lambda.metrics.dead_letters`` point and feeds the default dead-letters alarm.
"""

from __future__ import annotations

import time

from pipeline.detect.observation import DEAD_LETTER, Observation
from pipeline.model import DeadLetter
from pipeline.windows import PIPELINE_FUNCTION, window_start


def observe_dead_letter(dead: DeadLetter) -> Observation:
    """The minute of the dead letter's time (when it was read or failed; else now)."""
    ms = dead.time_ms if dead.time_ms is not None else int(time.time() * 1000)
    return Observation(function_name=PIPELINE_FUNCTION, window_start_ms=window_start(ms), kind=DEAD_LETTER)
