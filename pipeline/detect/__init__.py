"""Pure detectors: what one invocation or one log line tells about its function's minute.

``observe_invocation`` turns an Invocation into the Observations the window metrics count
(outcome, cold start, durations, memory and duration pressure, its interval for concurrency);
``observe_throttles`` finds throttling in callers' log lines. Cold-start kinds and outcomes are
decided by the stream fold (``pipeline.invocations``); these modules read its verdicts.
"""

from pipeline.detect.dead_letters import observe_dead_letter
from pipeline.detect.invocation import observe_invocation, timeout_limit_ms
from pipeline.detect.observation import WINDOW_MS, Observation, window_start
from pipeline.detect.throttles import observe_throttles, throttle_target

__all__ = ["Observation", "WINDOW_MS", "window_start", "observe_invocation", "timeout_limit_ms",
           "observe_throttles", "throttle_target", "observe_dead_letter"]
