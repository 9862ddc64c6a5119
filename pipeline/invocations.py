"""The pure fold that turns one log stream's events into Invocations.

A log stream is one execution environment, and an environment runs one request at a time, so
a fold over the stream's events in time order sees START, the request's logs, END and REPORT
in sequence, with the init (or SnapStart restore) lines before the first START. Batch runs
group by log stream and call ``fold_stream``; streaming runs keep a ``StreamFold`` in keyed
state and call ``add`` per event and ``flush`` from an event-time timer.

One line may follow the REPORT: Lambda's old-style "Task timed out after N seconds" is stored
in the same millisecond as its REPORT, and CloudWatch often orders it after (a later event id).
So an invocation whose REPORT does not say how it ended (no Status) is *held* for
``TIMEOUT_LINE_GRACE_MS`` past its REPORT's timestamp: a timeout line for it in that time makes
it a timeout. It is emitted when a later line beyond the grace arrives (``add``), when the caller
says it is due (``release``: the watermark, or the end of a delivery) or at ``flush``. What
completes behind a held invocation waits in the same queue, so invocations are still emitted in
the order they completed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from pipeline.cost import invocation_cost
from pipeline.model import Invocation, LogEvent, ParsedLine
from pipeline.parse import parse_event
from pipeline.windows import TIMEOUT_LINE_GRACE_MS

# An init that started this long before the invocation's START (beyond its own duration) ran
# ahead of demand: provisioned concurrency (or a pre-warmed environment) — the caller did not wait.
PREWARM_SLACK_MS = 10_000
RECENT_IDS = 50_000  # ids remembered for de-duplication of re-delivered events
FLAGS = ("implausible_report", "clock_skew")  # a REPORT's signals the invocation carries too


@dataclass(slots=True)
class _Init:
    """Init or restore seen on this environment, not yet attached to an invocation."""

    start_ms: int
    kind: str  # "init" | "restore"
    runtime_version: str | None = None
    initialization_type: str | None = None
    duration_ms: float | None = None


@dataclass(slots=True)
class _Open:
    inv: Invocation
    timed_out: bool = False
    runtime_exit: bool = False
    oom_seen: bool = False
    app_error: bool = False


@dataclass(slots=True)
class _Held:
    """A completed invocation in the emission queue: waiting for a timeout line CloudWatch may
    store after its REPORT, or (``final``) only for the held ones before it."""

    target: _Open
    report_ms: int
    crashed: bool = False
    final: bool = False


def _event_order(ev: LogEvent) -> tuple[int, int, str]:
    """Time order; CloudWatch event ids (digit strings) break ties in ingestion order."""
    return (ev.timestamp, len(ev.id), ev.id)


@dataclass
class StreamFold:
    """Folds one log stream. ``add`` returns the invocations a REPORT (or a crash) completed."""

    architecture_of: Callable[[str], str] | None = None
    open: dict[str, _Open] = field(default_factory=dict)
    current: str | None = None
    pending: _Init | None = None
    recent: dict[str, None] = field(default_factory=dict)
    last_ms: int | None = None
    held: list[_Held] = field(default_factory=list)   # completed, not emitted yet, in order (module doc)

    def __setstate__(self, state: dict) -> None:
        """A fold pickled before ``held`` existed (an older checkpoint, keyed state) loads too."""
        self.__dict__.update(state)
        self.__dict__.setdefault("held", [])

    def add(self, ev: LogEvent) -> list[Invocation]:
        if ev.id in self.recent:
            return []
        self.recent[ev.id] = None
        if len(self.recent) > RECENT_IDS:
            del self.recent[next(iter(self.recent))]
        self.last_ms = ev.timestamp if self.last_ms is None else max(self.last_ms, ev.timestamp)
        done: list[Invocation] | None = None
        held = self.held
        if held:
            horizon = ev.timestamp - TIMEOUT_LINE_GRACE_MS  # a line this late ends every hold before it
            first = held[0]
            if first.final or first.report_ms < horizon:   # (only the queue's head can unblock it)
                if len(held) == 1:                         # the usual case, without the general loop
                    held.clear()
                    done = [self._finish(first.target, first.crashed)]
                else:
                    done = self.release(lambda _inv, report_ms: report_ms < horizon)
        p = ev.parsed
        if p is None:
            p = parse_event(ev).parsed
            assert p is not None
        kind = p.kind
        if kind == "log":
            self._on_log(ev, p)
            return done or []
        if kind == "start" or kind == "report":    # what completes invocations
            out = self._on_start(ev, p) if kind == "start" else self._on_report(ev, p)
            if done:
                done.extend(out)
                return done
            return out
        rec = p.platform
        assert rec is not None
        if kind in ("init_start", "restore_start"):
            self.pending = _Init(start_ms=ev.timestamp, kind="restore" if kind == "restore_start" else "init",
                                 runtime_version=rec.runtime_version,
                                 initialization_type=rec.initialization_type)
            return done or []
        if kind in ("init_report", "restore_report"):
            if self.pending is None:
                self.pending = _Init(start_ms=ev.timestamp, kind="restore" if kind == "restore_report" else "init")
            self.pending.duration_ms = rec.init_duration_ms if kind == "init_report" else rec.restore_duration_ms
            return done or []
        target = self._timeout_target(p.request_id) if kind == "timeout" else self._target(p.request_id)
        if target is None:
            return done or []
        self._count(target.inv, ev)
        if kind == "end":
            target.inv.end_ms = ev.timestamp
        elif kind == "timeout":
            target.timed_out = True
            target.inv.error_message = target.inv.error_message or ev.message.strip()
        elif kind == "runtime_error":
            target.runtime_exit = True
            if rec.error_type and "OutOfMemory" in rec.error_type:
                target.oom_seen = True
            target.inv.error_type = target.inv.error_type or rec.error_type
            target.inv.error_message = target.inv.error_message or rec.error_message
        elif kind == "runtime_done" and rec.status not in (None, "success"):
            target.app_error = target.app_error or rec.status in ("error", "failure")
            target.timed_out = target.timed_out or rec.status == "timeout"
            target.inv.error_type = target.inv.error_type or rec.error_type
        return done or []

    def release(self, due: Callable[[Invocation, int], bool] | None = None) -> list[Invocation]:
        """Emit held invocations from the head of the queue: all, or while ``due(invocation,
        REPORT timestamp)`` says no timeout line can follow any more."""
        n = 0
        for h in self.held:
            if not (h.final or due is None or due(h.target.inv, h.report_ms)):
                break
            n += 1
        if not n:
            return []
        out = [self._finish(h.target, h.crashed) for h in self.held[:n]]
        del self.held[:n]
        return out

    def _held_for(self, request_id: str) -> _Held | None:
        for h in reversed(self.held):
            if not h.final and h.target.inv.request_id == request_id:
                return h
        return None

    def _complete(self, target: _Open, crashed: bool, at_ms: int) -> list[Invocation]:
        """An invocation nothing can change any more: emitted now, or queued behind held ones."""
        if self.held:
            self.held.append(_Held(target, at_ms, crashed=crashed, final=True))
            return []
        return [self._finish(target, crashed)]

    # -- events -------------------------------------------------------------------------------
    def _target(self, request_id: str | None) -> _Open | None:
        if request_id is not None:
            found = self.open.get(request_id)
            if found is not None:
                return found
        return self.open.get(self.current) if self.current is not None else None

    def _timeout_target(self, request_id: str | None) -> _Open | None:
        """A timeout line names its request: that one, open or held, never another; without an
        id, the open request, else the one reported last."""
        if request_id is not None:
            found = self.open.get(request_id)
            if found is None:
                held = self._held_for(request_id)
                found = held.target if held is not None else None
            return found
        if self.current is not None:
            return self.open.get(self.current)
        last = self.held[-1] if self.held else None
        return last.target if last is not None and not last.final else None

    def _count(self, inv: Invocation, ev: LogEvent) -> None:
        inv.log_count += 1
        inv.log_bytes += len(ev.message.encode("utf-8", "surrogatepass"))

    def _new(self, ev: LogEvent, request_id: str) -> Invocation:
        return Invocation(function_name=ev.function_name or ev.log_group, request_id=request_id,
                          log_group=ev.log_group, log_stream=ev.log_stream,
                          function_version=ev.function_version, instance_id=ev.instance_id,
                          account=ev.account, region=ev.region)

    def _on_start(self, ev: LogEvent, p: ParsedLine) -> list[Invocation]:
        done: list[Invocation] = []
        rid = p.request_id or f"{ev.log_stream}@{ev.timestamp}"
        # The environment runs one request at a time: an earlier request still open never
        # reported — its runtime died (crash).
        for other_id in [k for k in self.open if k != rid]:
            done.extend(self._complete(self.open.pop(other_id), crashed=True, at_ms=ev.timestamp))
        again = self._held_for(rid) if self.held else None
        if again is not None:  # the same request id starts again (an async retry): the first is over
            again.final = True
            done.extend(self.release(lambda _inv, _ms: False))
        if rid in self.open:
            return done
        inv = self._new(ev, rid)
        inv.start_ms = ev.timestamp
        inv.anchor_event_id = ev.id
        rec = p.platform
        if rec is not None:
            if rec.version:
                inv.function_version = inv.function_version or rec.version
            inv.xray_trace_id = rec.xray_trace_id
        self._count(inv, ev)
        self.open[rid] = _Open(inv)
        self.current = rid
        return done

    def _on_log(self, ev: LogEvent, p: ParsedLine) -> None:
        target = self._target(p.request_id)
        if target is None:
            return  # init-phase or unattributable line: indexed as a log, part of no invocation
        inv = target.inv
        self._count(inv, ev)
        if p.xray_trace_id and inv.xray_trace_id is None:
            inv.xray_trace_id = p.xray_trace_id
        if p.correlation_id and p.correlation_id not in inv.correlation_ids:
            inv.correlation_ids.append(p.correlation_id)
        if p.parent_request_id and inv.parent_request_id is None:
            inv.parent_request_id = p.parent_request_id
        for sig in p.signals:
            if sig == "error":
                target.app_error = True
                if inv.error_type is None:
                    inv.error_type, inv.error_message = p.error_type, p.error_message
            elif sig == "oom":
                target.oom_seen = True
            if sig != "error" and sig not in inv.signals:
                inv.signals.append(sig)

    def _on_report(self, ev: LogEvent, p: ParsedLine) -> list[Invocation]:
        rec = p.platform
        assert rec is not None
        rid = p.request_id or self.current or f"{ev.log_stream}@{ev.timestamp}"
        done: list[Invocation] = []
        again = self._held_for(rid) if self.held else None
        if again is not None:  # a second REPORT for a held request: the first is over
            again.final = True
            done = self.release(lambda _inv, _ms: False)
        target = self.open.pop(rid, None)
        if target is None:  # START fell outside our window: rebuild from the REPORT
            inv = self._new(ev, rid)
            inv.start_ms = int(ev.timestamp - (rec.duration_ms or 0))
            inv.anchor_event_id = ev.id
            target = _Open(inv)
        inv = target.inv
        self._count(inv, ev)
        for sig in p.signals:  # numbers dropped as impossible, or a skewed clock: visible on the invocation
            if sig in FLAGS and sig not in inv.signals:
                inv.signals.append(sig)
        inv.duration_ms = rec.duration_ms
        inv.billed_duration_ms = rec.billed_duration_ms
        inv.memory_size_mb = rec.memory_size_mb
        inv.max_memory_used_mb = rec.max_memory_used_mb
        inv.init_duration_ms = rec.init_duration_ms or None  # "Init Duration: 0.00 ms" is no init
        inv.restore_duration_ms = rec.restore_duration_ms or None
        inv.billed_restore_duration_ms = rec.billed_restore_duration_ms
        if rec.xray_trace_id:
            inv.xray_trace_id = rec.xray_trace_id
        if rec.status == "timeout":
            target.timed_out = True
        if rec.status in ("error", "failure"):
            target.app_error = True
        if rec.error_type:
            if "OutOfMemory" in rec.error_type:
                target.oom_seen = True
            elif rec.error_type.startswith("Runtime.Exit"):
                target.runtime_exit = True
            if inv.error_type is None or rec.error_type.startswith("Runtime."):
                inv.error_type = rec.error_type
        if inv.end_ms is None or inv.duration_ms is not None:
            inv.end_ms = int(inv.start_ms + inv.duration_ms) if (
                inv.start_ms is not None and inv.duration_ms is not None) else ev.timestamp
        self._cold_start(inv)
        if self.current == rid:
            self.current = None
        if rec.status is not None:  # the REPORT says how it ended (JSON, or a Status): nothing after changes it
            done.extend(self._complete(target, crashed=False, at_ms=ev.timestamp))
        else:
            self.held.append(_Held(target, ev.timestamp))
        return done

    def _cold_start(self, inv: Invocation) -> None:
        init = self.pending
        if init is not None:
            self.pending = None
            inv.init_start_ms = init.start_ms
            inv.runtime_version = init.runtime_version
            if init.kind == "restore":
                inv.restore_duration_ms = inv.restore_duration_ms or init.duration_ms
                inv.cold_start_kind = "snapstart"
                return
            inv.init_duration_ms = inv.init_duration_ms or init.duration_ms
            itype = init.initialization_type
            if itype == "provisioned-concurrency":
                inv.cold_start_kind = "provisioned"
            elif itype == "snap-start":
                inv.cold_start_kind = "snapstart"
            elif inv.start_ms is not None and (
                    inv.start_ms - init.start_ms > (inv.init_duration_ms or 0) + PREWARM_SLACK_MS):
                inv.cold_start_kind = "provisioned"  # initialised long before anyone called
            else:
                inv.cold_start_kind = "on-demand"
            return
        if inv.restore_duration_ms:
            inv.cold_start_kind = "snapstart"
        elif inv.init_duration_ms:
            inv.cold_start_kind = "on-demand"

    def _finish(self, target: _Open, crashed: bool) -> Invocation:
        inv = target.inv
        mem_full = bool(inv.memory_size_mb and inv.max_memory_used_mb is not None
                        and inv.max_memory_used_mb >= inv.memory_size_mb)
        if target.oom_seen or (mem_full and (target.timed_out or target.runtime_exit)):
            inv.outcome = "out_of_memory"
            inv.error_type = "Runtime.OutOfMemory"
        elif target.timed_out:
            inv.outcome = "timeout"
            inv.error_type = "Sandbox.Timedout"
        elif target.runtime_exit or crashed:
            inv.outcome = "crash"
            inv.error_type = inv.error_type or ("Runtime.ExitError" if target.runtime_exit else "Sandbox.NoReport")
        elif target.app_error:
            inv.outcome = "error"
            inv.error_type = inv.error_type or "Error"
        elif inv.duration_ms is not None or inv.billed_duration_ms is not None:
            inv.outcome = "success"
        else:
            inv.outcome = "unfinished"
        arch = self.architecture_of(inv.function_name) if self.architecture_of else "x86_64"
        inv.estimated_cost_usd = invocation_cost(inv.billed_duration_ms, inv.memory_size_mb, arch)
        return inv

    def flush(self) -> list[Invocation]:
        """Emit what is held, and close what never reported (end of input, or a streaming timer):
        outcome ``unfinished``."""
        done = self.release()
        done.extend(self._finish(self.open.pop(k), crashed=False) for k in list(self.open))
        self.current = None
        return done


def fold_stream(events: Iterable[LogEvent], architecture_of: Callable[[str], str] | None = None,
                ) -> Iterator[Invocation]:
    """All invocations of one log stream's events (any order in, time order applied here)."""
    yield from fold_sorted(in_event_order(events), architecture_of)


def fold_sorted(events: Iterable[LogEvent], architecture_of: Callable[[str], str] | None = None) -> list[Invocation]:
    """All invocations of one log stream's events, already in time order (the batch shell's fold)."""
    fold = StreamFold(architecture_of=architecture_of)
    out: list[Invocation] = []
    for ev in events:
        out.extend(fold.add(ev))
    out.extend(fold.flush())
    return out


def in_event_order(events: Iterable[LogEvent]) -> list[LogEvent]:
    """Events in the order the fold reads them (time; CloudWatch's ids break ties)."""
    return sorted(events, key=_event_order)


def dedupe_sorted(events: Iterable[LogEvent]) -> list[LogEvent]:
    """Events of one stream in time order, each CloudWatch event id once."""
    seen: set[str] = set()
    out: list[LogEvent] = []
    for ev in sorted(events, key=_event_order):
        if ev.id not in seen:
            seen.add(ev.id)
            out.append(ev)
    return out
