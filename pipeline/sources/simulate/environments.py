"""Execution environments: a function's pool of them, each one log stream that runs invocations
one at a time. A new one is created (a cold start, or a SnapStart restore) when all are busy;
idle ones retire after the function's idle time, provisioned ones never do.
"""

from __future__ import annotations

import heapq
import math
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipeline.sources.simulate.lines import _platform, _second, iso
from pipeline.sources.simulate.spec import _INIT_MS

if TYPE_CHECKING:
    from pipeline.sources.simulate.spec import FunctionSpec


@dataclass(slots=True)
class _Instance:
    """One execution environment = one log stream; `events` are (ms, message) not yet shipped."""
    function: int
    number: int
    stream: str
    file_no: int
    provisioned: bool
    free_at: int
    pending: tuple | None = None       # (kind, init_ms, restore_ms, billed_restore_ms) of its first START
    launch_error: bool = False         # its extension failed to launch: its first invocation fails
    events: list = field(default_factory=list)


@dataclass(slots=True)
class _Pool:
    busy: list = field(default_factory=list)    # heap of (free_at, number, instance)
    idle: list = field(default_factory=list)    # stack: the most recently freed is reused first


class _Environments:
    """Creates, reuses and writes to environments (a mixin of _Fleet: uses its rng, pools, open
    streams, stats and instance count)."""

    def _emit(self, inst: _Instance, ms: int, message: str) -> None:
        if not inst.events:
            self.open[inst.number] = inst
        inst.events.append((ms, message))

    def _create(self, spec: FunctionSpec, t: int, kind: str) -> _Instance:
        """A new environment at `t` with its init (or restore) lines; free once they are done."""
        stream = f"{_second(t // 1000)[:10].replace('-', '/')}/[{spec.version}]{self.rng.getrandbits(128):032x}"
        self.instances += 1
        inst = _Instance(spec.index, self.instances, stream, zlib.crc32(stream.encode()) % self.c.files,
                         kind == "provisioned", t)
        self.stats[spec.name]["instances"] += 1
        done = self._restore(spec, inst, t) if kind == "snapstart" else self._init(spec, inst, t, kind)
        inst.free_at = done + 1
        return inst

    def _restore(self, spec: FunctionSpec, inst: _Instance, t: int) -> int:
        """SnapStart resumes a snapshot taken at publish time: a restore instead of an init."""
        rv, arn = self.runtime_versions[spec.name], self.arns[spec.name]
        restore = round(self.rng.uniform(150, 700), 2)
        billed_restore = math.ceil(restore * self.rng.uniform(0.4, 0.8))
        done = t + int(restore)
        if spec.log_format == "json":
            self._emit(inst, t, _platform(t, "restoreStart", {
                "runtimeVersion": rv, "runtimeVersionArn": arn, "functionName": spec.name,
                "functionVersion": spec.version}))
            self._emit(inst, done, _platform(done, "restoreReport", {
                "status": "success", "metrics": {"durationMs": restore}}))
        else:
            self._emit(inst, t, f"RESTORE_START Runtime Version: {rv}\tRuntime Version ARN: {arn}\n")
            self._emit(inst, done, f"RESTORE_REPORT Restore Duration: {restore:.2f} ms\n")
        inst.pending = ("snapstart", None, restore, billed_restore)
        self.stats[spec.name]["snapstart_restores"] += 1
        return done

    def _init(self, spec: FunctionSpec, inst: _Instance, t: int, kind: str) -> int:
        """INIT_START (+ extension lines); in JSON also initReport, as text has no init report."""
        rv, arn, js = self.runtime_versions[spec.name], self.arns[spec.name], spec.log_format == "json"
        init = round(self.rng.uniform(*_INIT_MS[spec.runtime]), 2)
        done = t + int(init)
        init_type = "provisioned-concurrency" if kind == "provisioned" else "on-demand"
        if js:
            # since 2025 initStart names the environment and its memory in bytes
            day, hexid = inst.stream[:11], inst.stream[inst.stream.index("]") + 1:]
            self._emit(inst, t, _platform(t, "initStart", {
                "initializationType": init_type, "phase": "init", "runtimeVersion": rv,
                "runtimeVersionArn": arn, "functionName": spec.name, "functionVersion": spec.version,
                "instanceId": f"{day}{spec.name}[{spec.version}]{hexid}",
                "instanceMaxMemory": spec.memory_mb * 1048576}))
        else:
            self._emit(inst, t, f"INIT_START Runtime Version: {rv}\tRuntime Version ARN: {arn}\n")
            if spec.runtime == "nodejs20.x":  # init-phase code logs before any request: id 'undefined'
                ms = t + int(init * 0.5)
                self._emit(inst, ms, f"{iso(ms)}\tundefined\tINFO\tloaded configuration for {spec.name}\n")
        if spec.extension:
            ms = t + int(init * 0.8)
            if spec.index == self.launch_error_fn and self.stats[spec.name]["instances"] == 1:
                inst.launch_error = True
                self._emit(inst, ms, f"EXTENSION\tName: {spec.extension}\tState: LaunchError\tEvents: []"
                                     f"\tError Type: UnknownError\n")
            else:
                self._emit(inst, ms, _platform(ms, "extension", {
                    "name": spec.extension, "state": "Ready", "events": ["INVOKE", "SHUTDOWN"]}) if js else
                    f"EXTENSION\tName: {spec.extension}\tState: Ready\tEvents: [INVOKE,SHUTDOWN]\n")
        if js:
            self._emit(inst, done, _platform(done, "initReport", {
                "initializationType": init_type, "phase": "init", "status": "success",
                "metrics": {"durationMs": init}}))
        inst.pending = (kind, init, None, None)
        if kind == "provisioned":
            self.stats[spec.name]["provisioned_inits"] += 1
        return done

    def _acquire(self, spec: FunctionSpec, t: float) -> _Instance:
        """An idle environment (the most recently freed), or a new one: a cold start."""
        pool = self.pools[spec.index]
        while pool.busy and pool.busy[0][0] <= t:
            pool.idle.append(heapq.heappop(pool.busy)[2])
        if pool.idle:
            pool.idle = [i for i in pool.idle if i.provisioned or t - i.free_at <= spec.idle_ms]
        if pool.idle:
            return pool.idle.pop()
        return self._create(spec, int(t), "snapstart" if spec.snapstart else "on-demand")
