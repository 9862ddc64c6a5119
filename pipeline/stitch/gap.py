"""An event-time stitcher for an endless stream of invocations, with bounded memory.

The pure counterpart of the streaming Beam shell: a trace is open while members keep coming;
once ``gap_ms`` of event time passed with no new member (the watermark says so) it is emitted.
It is kept ``retention_ms`` longer, so a late member re-emits the updated trace with the same
ids; then it is forgotten. Memory holds only the traces of the last gap + retention.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from pipeline.model import Invocation, Span
from pipeline.stitch.keys import KeyUnion, trace_keys
from pipeline.stitch.spans import trace_spans

DEFAULT_GAP_MS = 5 * 60 * 1000
DEFAULT_RETENTION_MS = 60 * 60 * 1000


@dataclass(slots=True)
class _Open:
    members: list[Invocation] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    last_ms: int = 0
    dirty: bool = True  # changed since it was last emitted
    version: int = 0


def _activity(inv: Invocation) -> int:
    return int(max(t for t in (inv.end_ms, inv.start_ms, 0) if t is not None))


class GapStitcher:
    """``add`` invocations, ``advance`` the watermark; ``advance`` returns traces (span lists)."""

    def __init__(self, gap_ms: int = DEFAULT_GAP_MS, retention_ms: int = DEFAULT_RETENTION_MS) -> None:
        self.gap_ms, self.retention_ms = gap_ms, retention_ms
        self.union = KeyUnion()
        self.open: dict[str, _Open] = {}
        self._due: list[tuple[int, str, int]] = []  # (due ms, component, version): lazy heap
        self.untraced = 0
        self.reemitted = 0

    def add(self, inv: Invocation) -> None:
        keys = trace_keys(inv)
        if not keys:
            self.untraced += 1
            return
        olds = {self.union.find(k) for k in keys if k in self.union.parent}
        root = self.union.union(keys)
        state = self.open.pop(root, None) or _Open()
        for old in olds - {root}:
            other = self.open.pop(old, None)
            if other is not None:
                state.members += other.members
                state.keys |= other.keys
                state.last_ms = max(state.last_ms, other.last_ms)
        state.members.append(inv)
        state.keys.update(keys)
        state.last_ms = max(state.last_ms, _activity(inv))
        if not state.dirty:
            self.reemitted += 1
        state.dirty = True
        state.version += 1
        self.open[root] = state
        heapq.heappush(self._due, (state.last_ms + self.gap_ms, root, state.version))

    def advance(self, watermark_ms: int) -> list[list[Span]]:
        """Emit every trace silent for ``gap_ms``; forget those emitted ``retention_ms`` ago."""
        out: list[list[Span]] = []
        due = self._due
        while due and due[0][0] <= watermark_ms:
            at, root, version = heapq.heappop(due)
            state = self.open.get(root)
            if state is None or state.version != version:
                continue  # superseded: a newer member or a merge moved the deadline
            if state.dirty:
                out.append(trace_spans(state.members))
                state.dirty = False
                state.version += 1
                heapq.heappush(due, (at + self.retention_ms, root, state.version))
            else:
                del self.open[root]
                for key in state.keys:
                    self.union.parent.pop(key, None)
                    self.union.size.pop(key, None)
        return out

    def close(self) -> list[list[Span]]:
        """End of input: emit what is still open."""
        return [trace_spans(s.members) for s in self.open.values() if s.dirty]

    def __len__(self) -> int:
        return len(self.open)
