"""The stream fold carried from one catch-up read to the next. Pure (no Beam).

Locally, ``coldtrace run --streaming`` repeats bounded reads (pipeline/streaming/catchup.py).
What an execution environment's fold holds when a read ends — a request whose REPORT has not
arrived yet, an init waiting for its first request, the ids it has seen — is pickled and handed
to the next read, which continues the fold exactly where it stopped. Flushing follows the same
event-time rule as the streaming shell's timer (``BuildInvocationsStreaming``): a stream silent
for longer than Lambda's longest timeout, by the watermark, is flushed as ``unfinished``.

A reported invocation the fold holds for a timeout line that may follow its REPORT
(``pipeline.invocations``) is carried too, so the outcome does not depend on where a read ends.
It is emitted once the watermark has passed its REPORT plus ``TIMEOUT_LINE_GRACE_MS`` — or the
end of the minute it started in, if that comes first: that minute's point is due then, and the
line, stored in the REPORT's millisecond, was read with it (the watermark trails reads by 60 s).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Callable

from pipeline.invocations import StreamFold, dedupe_sorted
from pipeline.model import Invocation, LogEvent
from pipeline.parse import CORRELATION_PATHS, parse_event
from pipeline.windows import PENDING_INIT_TTL_MS, TIMEOUT_LINE_GRACE_MS, UNFINISHED_AFTER_MS, WINDOW_MS, window_start

# Ids a carried fold remembers for de-duplication (the live fold keeps more): CloudWatch
# re-delivers a payload within seconds, and the carried state is re-written every read.
CARRY_RECENT_IDS = 5_000


def hold_due_ms(inv: Invocation, report_ms: int) -> int:
    """The watermark past which a held invocation is emitted: its REPORT plus the grace, or the
    last millisecond of the minute its metrics count in (``detect.observe_invocation``)."""
    start = inv.start_ms if inv.start_ms is not None else inv.end_ms
    minute_end = report_ms if start is None else window_start(start) + WINDOW_MS - 1
    return min(report_ms + TIMEOUT_LINE_GRACE_MS, minute_end)


@dataclass(slots=True)
class FoldStep:
    invocations: list[Invocation] = field(default_factory=list)
    fresh: list[LogEvent] = field(default_factory=list)    # events not seen before: for the logs index
    state: bytes | None = None                             # the fold to carry on (None: nothing open)
    duplicates: int = 0


def resume_fold(old_state: bytes | None, events: list[LogEvent], watermark_ms: int | None,
                architecture_of: Callable[[str], str] | None = None,
                correlation_paths: tuple[str, ...] = CORRELATION_PATHS,
                unfinished_after_ms: int = UNFINISHED_AFTER_MS) -> FoldStep:
    """Continue one log stream's fold with new events (any order, duplicates allowed)."""
    fold: StreamFold = pickle.loads(old_state) if old_state else StreamFold()
    fold.architecture_of = architecture_of
    step = FoldStep()
    unique = dedupe_sorted(events)
    step.duplicates = len(events) - len(unique)
    for ev in unique:
        if ev.id in fold.recent:
            step.duplicates += 1
            continue
        if ev.parsed is None:
            parse_event(ev, correlation_paths)
        step.fresh.append(ev)
        step.invocations.extend(fold.add(ev))
    if fold.held and watermark_ms is not None:
        step.invocations.extend(fold.release(lambda inv, report_ms: hold_due_ms(inv, report_ms) < watermark_ms))
    if fold.last_ms is not None and watermark_ms is not None and fold.last_ms + unfinished_after_ms < watermark_ms:
        step.invocations.extend(fold.flush())
        if fold.pending is None or fold.last_ms + PENDING_INIT_TTL_MS < watermark_ms:
            return step                   # silent long enough: nothing left to carry
    fold.architecture_of = None
    if len(fold.recent) > CARRY_RECENT_IDS:
        fold.recent = dict.fromkeys(list(fold.recent)[-CARRY_RECENT_IDS:])
    step.state = pickle.dumps(fold, protocol=pickle.HIGHEST_PROTOCOL)
    return step
