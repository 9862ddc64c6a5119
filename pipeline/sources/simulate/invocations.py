"""One invocation: what it draws (ids, outcome, duration, bill) and the lines it leaves, from START
to REPORT; or, at a throttled function's reserved concurrency, its rejection.
"""

from __future__ import annotations

import bisect
import heapq
import random
from typing import TYPE_CHECKING

from pipeline.sources.simulate.lines import (
    _ERRORS,
    _LONG_LINE,
    _MESSAGES,
    _THROTTLES,
    _app_line,
    _error_lines,
    _platform,
    _powertools_line,
    _tracing,
    iso,
    text_report,
)

if TYPE_CHECKING:
    from pipeline.sources.simulate.environments import _Instance
    from pipeline.sources.simulate.spec import FunctionSpec


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _xray_id(rng: random.Random, ms: int) -> str:
    return f"1-{ms // 1000:08x}-{rng.getrandbits(96):024x}"


def _ceil_ms(*values: float) -> int:
    """ceil of a sum of 2-decimal values, exact (no float noise at whole milliseconds)."""
    hundredths = sum(round(v * 100) for v in values)
    return -(-hundredths // 100)


def _draw_outcome(spec: FunctionSpec, rng: random.Random) -> tuple[str, bool]:
    """(outcome, disguised): an out-of-memory is disguised as a timeout about a third of the time."""
    r = rng.random()
    for outcome, p in (("error", spec.p_error), ("timeout", spec.p_timeout),
                       ("out_of_memory", spec.p_oom), ("crash", spec.p_crash)):
        if r < p:
            # (a Managed Instances report has no memory figures to give a disguised one away)
            return outcome, outcome == "out_of_memory" and rng.random() < 0.3 and not spec.managed
        r -= p
    return "success", False


def _draw_duration(spec: FunctionSpec, rng: random.Random, outcome: str, disguised: bool, cold: bool) -> float:
    """Lognormal around the function's median; a timeout overruns its limit by a few ms."""
    timeout_ms = spec.timeout_s * 1000
    base = spec.median_ms * rng.lognormvariate(0.0, 0.5) * (1.3 if cold else 1.0)
    if outcome == "timeout" or disguised:
        return round(timeout_ms + rng.uniform(0.3, 4.0), 2)
    if outcome == "out_of_memory":
        return round(min(base * 3, timeout_ms * 0.9), 2)
    return round(min(base, timeout_ms * 0.95), 2)


class _Invocations:
    """Runs invocations (a mixin of _Fleet: uses its rng, specs, pools, incidents and stats, and
    `_acquire`/`_emit` of environments, `_call_children` of chains, `_record` of truth)."""

    def _invoke(self, fi: int, t: float, ctx: tuple | None) -> None:
        """Function `fi` invoked at `t`, by a caller's call context `ctx` or (None) as a root."""
        spec, rng = self.specs[fi], self.rng
        if self.incidents and self._rejected(spec, t, ctx):
            return
        inst = self._acquire(spec, t)
        start = max(int(t), inst.free_at)
        kind, init, restore, billed_restore = inst.pending or ("none", None, None, None)
        inst.pending = None
        if kind == "none" and rng.random() < 0.002:
            init = 0.0                       # seen in the wild on warm invocations: not a cold start
        rid = _uuid(rng)
        correlation, xray, parent_rid = (ctx or (None, None, None))[:3]
        if ctx is None and spec.children:
            correlation = _uuid(rng)
        if spec.traced and xray is None:
            xray = _xray_id(rng, start)
        outcome, disguised = _draw_outcome(spec, rng)
        duration = _draw_duration(spec, rng, outcome, disguised, kind != "none")
        if self.incidents:
            outcome, disguised, duration = self.incidents.adjust(spec, t, outcome, disguised, duration)
        launch_error = inst.launch_error
        if launch_error:
            outcome, disguised = "error", False
            duration = min(duration, spec.timeout_s * 950.0)
        extra = init if kind == "on-demand" else billed_restore if kind == "snapstart" else 0
        billed = _ceil_ms(min(duration, spec.timeout_s * 1000), extra or 0)
        used = spec.memory_mb if outcome == "out_of_memory" else min(
            spec.memory_mb - 1, spec.base_memory_mb + rng.randrange(25))
        end = start + int(duration)

        self._body(spec, inst, rng, rid, start, duration, kind, correlation, xray, parent_rid)
        self._finish(spec, inst, rng, rid, end, duration, billed, used, init, restore, billed_restore,
                     "launch_error" if launch_error else outcome, disguised, xray)
        self._record(spec, {"function": spec.name, "request_id": rid, "log_stream": inst.stream,
                            "outcome": outcome, "cold_start_kind": kind, "xray_trace_id": xray,
                            "correlation_id": correlation, "parent_request_id": parent_rid,
                            "start_ms": start, "duration_ms": duration,
                            "init_duration_ms": None if kind == "none" else init})   # a warm 0.00 is no init
        if self.incidents:
            self.incidents.record(spec, start, end, outcome, duration)
        inst.free_at = end
        if outcome not in ("out_of_memory", "crash") and not launch_error:  # a killed environment is retired
            heapq.heappush(self.pools[fi].busy, (end, inst.number, inst))
        if outcome == "success" and spec.children:
            self._call_children(spec, inst, rng, fi, rid, start, end, duration, correlation, xray)

    def _rejected(self, spec: FunctionSpec, t: float, ctx: tuple | None) -> bool:
        """Lambda rejects an invocation when the function's environments are all busy at its
        reserved concurrency: nothing in its own log; a synchronous caller logs the throttle."""
        limit = self.incidents.limit(spec)
        if limit is None:
            return False
        pool = self.pools[spec.index]
        while pool.busy and pool.busy[0][0] <= t:
            pool.idle.append(heapq.heappop(pool.busy)[2])
        if len(pool.busy) < limit:
            return False
        self.incidents.throttled(spec, t)
        self.stats[spec.name]["throttled"] = self.stats[spec.name].get("throttled", 0) + 1
        if ctx is not None and len(ctx) == 5:
            _, _, caller_rid, caller, caller_fi = ctx
            ms = int(t)
            arn = f"arn:aws:lambda:{self.c.region}:{self.c.account}:function:{spec.name}:{spec.version}"
            line = _app_line(self.specs[caller_fi], ms, caller_rid, "ERROR",
                             f"invoke {arn} failed: TooManyRequestsException: Rate Exceeded.")
            if not caller.events:
                self.open[caller.number] = caller
            bisect.insort(caller.events, (ms, line), key=lambda e: e[0])
        return True

    def _body(self, spec: FunctionSpec, inst: _Instance, rng: random.Random, rid: str, start: int,
              duration: float, kind: str, correlation: str | None, xray: str | None,
              parent_rid: str | None) -> None:
        """START, then the application lines spread over the invocation."""
        js = spec.log_format == "json"
        if js:
            rec = {"requestId": rid, "functionArn": f"arn:aws:lambda:{self.c.region}:{self.c.account}:function:"
                   f"{spec.name}", "version": spec.version}
            if xray:
                rec["tracing"] = _tracing(rng, xray)
            self._emit(inst, start, _platform(start, "start", rec))
        else:
            self._emit(inst, start, f"START RequestId: {rid} Version: {spec.version}\n")
        items: list = [("app", None)] * rng.randint(*spec.app_lines)
        if spec.powertools:
            items.insert(0, ("powertools", None))
        if spec.p_throttle and rng.random() < spec.p_throttle:
            items.insert(rng.randint(0, len(items)), ("throttle", rng.choice(_THROTTLES)))
            self.stats[spec.name]["throttle_lines"] += 1
        if rng.random() < 0.002:
            items.append(("long", None))
        n = len(items)
        for i, (what, arg) in enumerate(items):
            ms = start + int(duration * (i + 1) / (n + 1))
            if what == "app":
                template = _MESSAGES[rng.randrange(len(_MESSAGES))]
                self._emit(inst, ms, _app_line(spec, ms, rid, "INFO", template.format(rng.randrange(100_000))))
            elif what == "throttle":
                self._emit(inst, ms, _app_line(spec, ms, rid, "ERROR", arg))
            elif what == "long":
                self._emit(inst, ms, _app_line(spec, ms, rid, "DEBUG", _LONG_LINE))
            else:
                self._emit(inst, ms, _powertools_line(spec, ms, rid, kind, correlation, xray, parent_rid,
                                                       self.c))

    def _finish(self, spec: FunctionSpec, inst: _Instance, rng: random.Random, rid: str, end: int,
                duration: float, billed: int, used: int, init: float | None, restore: float | None,
                billed_restore: int | None, outcome: str, disguised: bool, xray: str | None) -> None:
        """The outcome's own lines, then END and REPORT (text) or runtimeDone and report (JSON)."""
        js = spec.log_format == "json"
        status, error_type = None, None
        if outcome == "launch_error":  # no line of its own: the REPORT says it
            status, error_type = "error", "Extension.LaunchError"
        elif outcome == "error":
            etype, emsg, code = rng.choice(_ERRORS[spec.runtime])
            for line in _error_lines(spec, rng, end, rid, etype, emsg, code):
                self._emit(inst, end, line)
            status, error_type = "error", etype
        elif outcome == "timeout" or disguised:
            # since 2024 a timeout may leave no line of its own, only Status: timeout on the REPORT
            if not js and rid[-1] not in "02468ace":
                self._emit(inst, end, f"{iso(end)} {rid} Task timed out after {spec.timeout_s:.2f} seconds\n\n")
            status, error_type = "timeout", "Sandbox.Timedout"
        elif outcome in ("out_of_memory", "crash"):
            error_type = "Runtime.OutOfMemory" if outcome == "out_of_memory" else "Runtime.ExitError"
            why = "signal: killed" if outcome == "out_of_memory" else "exit status 1"
            if not js:
                self._emit(inst, end, f"RequestId: {rid} Error: Runtime exited with error: {why}\n{error_type}\n")
                if spec.runtime == "nodejs20.x":  # the invoke's own error, no prefix, no request id
                    self._emit(inst, end, "Unknown application error occurred\nRuntime.Unknown\n")
            status = "error"
        if js:
            tracing = _tracing(rng, xray) if xray else None
            done = {"requestId": rid, "status": status or "success"}
            if error_type:
                done["errorType"] = error_type
            done["metrics"] = {"durationMs": round(max(duration - 0.4, 0.01), 2),
                               "producedBytes": rng.randrange(40, 900)}
            self._emit(inst, end, _platform(end, "runtimeDone", done))
            metrics = {"durationMs": duration, "billedDurationMs": billed, "memorySizeMB": spec.memory_mb,
                       "maxMemoryUsedMB": used}
            if spec.managed:  # Lambda Managed Instances: the duration alone (billed per instance)
                metrics = {"durationMs": duration}
            elif init is not None:
                metrics["initDurationMs"] = init
            if restore is not None:
                metrics["restoreDurationMs"] = restore
                metrics["billedRestoreDurationMs"] = billed_restore
            rec = {"requestId": rid, "metrics": metrics}
            if tracing:
                rec["tracing"] = tracing
            rec["status"] = status or "success"
            if error_type:
                rec["errorType"] = error_type
            self._emit(inst, end, _platform(end, "report", rec))
        else:
            self._emit(inst, end, f"END RequestId: {rid}\n")
            text_status = None if outcome == "error" else status
            self._emit(inst, end, text_report(
                rid, duration, billed, spec.memory_mb, used, init=init, restore=restore,
                billed_restore=billed_restore, status=text_status,
                error_type=error_type if text_status == "error" else None,
                xray=(xray, f"{rng.getrandbits(64):016x}") if xray else None))
