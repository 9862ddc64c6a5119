"""The synthetic fleet: CloudWatch Logs subscription payloads of N Lambda functions, plus the truth.

Deterministic from a seed, pure Python (stdlib + orjson, never Beam), so the parser, the invocation
fold and the detectors can be held against a fleet whose every fact is known. The model is the one
Lambda really has: a function owns a pool of execution environments (one log stream each) that run
invocations one at a time; a new one is created (a cold start) when all are busy, idle ones retire,
and an out-of-memory kill or a runtime crash retires the one it happened in.

Line shapes follow the samples README (copied, never read at runtime). What the pipeline must know:
- text REPORT fields are tab-separated; the line ends with a tab and a newline, except after a
  Status (``...\tStatus: timeout\n``, ``...\tStatus: error\tError Type: Runtime.OutOfMemory\n``);
  a traced function appends ``XRAY TraceId: ...\tSegmentId: ...\tSampled: true\n``.
- outcomes in text: error = an uncaught-exception line (Python ``[ERROR] KeyError: 'amount'\nTraceback
  ...`` as ONE event, sometimes followed by ``{"errorMessage": ...}``; Node ``<iso>\t<id>\tERROR\tInvoke
  Error \t{...}``; Java/Go ``{"errorMessage":...,"errorType":...,"requestId":...}``) and a REPORT
  without Status; timeout = ``<iso> <id> Task timed out after 3.00 seconds\n\n`` + ``Status: timeout``;
  out_of_memory = ``RequestId: <id> Error: Runtime exited with error: signal: killed\nRuntime.OutOfMemory\n``
  + ``Status: error\tError Type: Runtime.OutOfMemory``, or disguised: the timeout lines with Max Memory
  Used = Memory Size; crash = ``... exit status 1\nRuntime.ExitError\n`` + ``Error Type: Runtime.ExitError``.
- JSON-format functions emit JSON records without a trailing newline: platform.start, runtimeDone,
  report (``status`` success / error / timeout, ``errorType`` Runtime.OutOfMemory, Runtime.ExitError,
  Sandbox.Timedout or the exception type) and app lines; an uncaught exception is an ERROR app line
  whose ``message`` is an object. No timed-out / runtime-exited text lines in JSON format.
- Billed Duration is computed on the printed 2-decimal values: ceil(Duration + Init Duration) for an
  on-demand cold start, ceil(Duration + Billed Restore Duration) for SnapStart, else ceil(Duration);
  a timeout bills the timeout itself (plus that init / restore), a few ms below ceil(Duration).
- provisioned environments are initialised near the start of the window, minutes before their first
  START (the function's traffic starts late); a text INIT_START does not say it is provisioned, the
  gap does. JSON says ``initializationType: provisioned-concurrency``.
- throttling seen by callers: an ERROR app line with TooManyRequestsException,
  ThrottlingException or ProvisionedThroughputExceededException (no other line has those words).
"""

from __future__ import annotations

import argparse
import base64
import bisect
import functools
import heapq
import json
import math
import random
import time
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterator

import orjson

from pipeline.sources.incidents import METRICS_FILE, Incident, IncidentBook

CONTROL_MESSAGE = "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."
SUBSCRIPTION_FILTER = "coldtrace"
GZIP_LEVEL = 3
FLUSH_AGE_MS = 2_000      # a stream's events wait this long before CloudWatch ships them
CHECKPOINT_MS = 1_000
MAX_PAYLOAD_BYTES = 256_000


@dataclass(frozen=True, slots=True)
class FleetConfig:
    seed: int = 7
    functions: int = 12
    minutes: int = 10
    start_ms: int = 1714557600000          # 2024-05-01T10:00:00Z
    invocations_per_minute: int = 60        # mean per root function, times 0.3..2 per function
    files: int = 4                          # payload files to shard into (parallelism for readers)
    duplicate_payload_rate: float = 0.002   # CloudWatch sometimes delivers a payload twice
    control_messages: int = 2
    include_invocations: bool = True        # per-invocation truth (turn off for huge fleets)
    account: str = "123456789012"
    region: str = "eu-west-1"
    incidents: tuple[Incident, ...] = ()    # injected incidents (pipeline/sources/incidents.py)


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One simulated function: its configuration and the behaviour the truth is made of."""
    index: int
    name: str
    runtime: str
    log_format: str                 # "text" or "json"
    version: str                    # "$LATEST" or a published version number
    memory_mb: int
    architecture: str
    timeout_s: int
    traced: bool
    powertools: bool
    snapstart: bool
    provisioned: int                # provisioned environments (0: none)
    extension: str | None
    rate_mult: float                # times invocations_per_minute (root functions only)
    burst: bool                     # 4x traffic during 30-40 % of the window
    median_ms: float
    app_lines: tuple[int, int]
    p_error: float
    p_timeout: float
    p_oom: float
    p_crash: float
    p_throttle: float
    idle_ms: int
    base_memory_mb: int
    children: tuple[tuple[int, str, float], ...] = ()   # (function index, "sync" | "sqs", probability)
    parent: int | None = None


# name, runtime, log format, published version, role — the first twelve cover every behaviour
_ROLES = (
    ("api-gateway-handler", "nodejs20.x", "text", None, ""),
    ("orders-api", "python3.12", "json", "12", ""),
    ("payments", "java21", "text", "7", "snapstart"),
    ("notifications", "python3.12", "text", None, ""),
    ("inventory", "nodejs20.x", "json", None, ""),
    ("shipping", "provided.al2023", "text", None, ""),
    ("users-auth", "python3.12", "text", "3", "provisioned"),
    ("search", "java21", "json", "5", "snapstart burst"),
    ("image-resize", "python3.12", "json", None, "oom"),
    ("reports", "java21", "text", None, ""),
    ("email-sender", "nodejs20.x", "json", "21", "provisioned"),
    ("audit-log", "provided.al2023", "text", None, ""),
)
_MORE_NAMES = ("pricing", "recommendations", "cart", "checkout", "invoices", "webhooks",
               "analytics", "thumbnailer", "geo-lookup", "sessions", "feature-flags", "scheduler")
# parent, child, hop, probability: api-gateway-handler -> orders-api -(SQS)-> payments -> notifications
_CHAINS = ((0, 1, "sync", 0.7), (1, 2, "sqs", 0.6), (2, 3, "sync", 0.8), (4, 5, "sync", 0.5))
_RUNTIME_VERSION = {"python3.12": "python:3.12.v38", "nodejs20.x": "nodejs:20.v33",
                    "java21": "java:21.v27", "provided.al2023": "provided:al2023.v62"}
_INIT_MS = {"python3.12": (150, 600), "nodejs20.x": (120, 400), "java21": (800, 3000),
            "provided.al2023": (40, 180)}
_MEDIAN_MS = {"python3.12": (30, 250), "nodejs20.x": (15, 150), "java21": (40, 300),
              "provided.al2023": (4, 40)}
_BASE_MEMORY = {"python3.12": (45, 90), "nodejs20.x": (60, 100), "java21": (110, 220),
                "provided.al2023": (20, 45)}
_ERRORS = {
    "python3.12": (("KeyError", "'amount'", 'amount = event["amount"]'),
                   ("ValueError", "invalid literal for int() with base 10: 'abc'", "qty = int(raw)"),
                   ("ClientError", "An error occurred (ConditionalCheckFailedException) when calling "
                    "the PutItem operation: The conditional request failed", "table.put_item(**kw)")),
    "nodejs20.x": (("TypeError", "Cannot read properties of undefined (reading 'id')", ""),
                   ("SyntaxError", "Unexpected token u in JSON at position 0", ""),
                   ("Error", "Order 4242 not found", "")),
    "java21": (("java.lang.NullPointerException", 'Cannot invoke "String.length()" because "id" is null', ""),
               ("java.lang.IllegalStateException", "Order not found", "")),
    "provided.al2023": (("errorString", "order not found", ""), ("*json.SyntaxError", "invalid character 'x'", "")),
}
_STACKS = {"python3.12": ['  File "/var/task/app.py", line 12, in handler'],
           "nodejs20.x": ["    at Runtime.handler (file:///var/task/index.mjs:12:31)"],
           "java21": ["com.example.Handler.handleRequest(Handler.java:42)"], "provided.al2023": []}
_THROTTLES = ("TooManyRequestsException: Rate Exceeded.", "ThrottlingException: Rate exceeded",
              "ProvisionedThroughputExceededException: The level of configured provisioned "
              "throughput for the table was exceeded.")
_MESSAGES = ("processing order {}", "fetched {} items from DynamoDB", "cache miss for key user#{}",
             "Bestellung {} für Jürgen Müller angelegt ✓", "注文 {} を処理しました",
             "payment of €{} authorised", "sent {} bytes to S3", "Zahlung {} empfangen — Größe: groß 🚀",
             "validated request body ({} fields)", "published {} events to EventBridge")
_LONG_LINE = "full response: " + orjson.dumps({"items": [
    {"sku": f"SKU-{i:05d}", "qty": i % 7, "name": "Überraschungsei 🥚"} for i in range(160)]}).decode()


def fleet_functions(config: FleetConfig) -> list[FunctionSpec]:
    """The functions of a fleet; each depends only on (seed, index), so fleets grow stably."""
    specs = [_function(config.seed, i) for i in range(config.functions)]
    for parent, child, hop, p in _CHAINS:
        if child < len(specs):
            specs[parent] = replace(specs[parent], children=specs[parent].children + ((child, hop, p),),
                                    traced=True, powertools=True)
            specs[child] = replace(specs[child], parent=parent, traced=True, powertools=True)
    return specs


def _function(seed: int, i: int) -> FunctionSpec:
    rng = random.Random(f"coldtrace-fleet:{seed}:{i}")
    if i < len(_ROLES):
        name, runtime, fmt, version, role = _ROLES[i]
    else:
        name = _MORE_NAMES[(i - len(_ROLES)) % len(_MORE_NAMES)]
        lap = (i - len(_ROLES)) // len(_MORE_NAMES)
        name = f"{name}-{lap + 1}" if lap else name
        runtime = rng.choice(tuple(_RUNTIME_VERSION))
        fmt = rng.choice(("text", "json"))
        version = str(rng.randint(1, 40)) if rng.random() < 0.4 else None
        role = "snapstart" if runtime == "java21" and version and rng.random() < 0.5 else ""
    if "snapstart" in role or "provisioned" in role:
        version = version or str(rng.randint(1, 40))   # both need a published version
    memories = (512, 1024, 1536, 2048, 3008) if runtime == "java21" else (128, 256, 512, 1024, 1769, 3008)
    lo = rng.randint(0, 2)
    oom = 4.0 if "oom" in role else 1.0
    return FunctionSpec(
        index=i, name=name, runtime=runtime, log_format=fmt, version=version or "$LATEST",
        memory_mb=rng.choice(memories), architecture=rng.choice(("x86_64", "arm64")),
        timeout_s=rng.choice((3, 5, 6, 10, 15, 30)), traced=rng.random() < 0.4,
        powertools=runtime != "provided.al2023" and rng.random() < 0.3, snapstart="snapstart" in role,
        provisioned=(2 if i < 8 else 3) if "provisioned" in role else 0,
        extension="datadog-agent" if rng.random() < 0.25 else None,
        rate_mult=rng.uniform(0.3, 2.0), burst="burst" in role,
        median_ms=rng.uniform(*_MEDIAN_MS[runtime]), app_lines=(lo, lo + rng.randint(1, 5)),
        p_error=0.02 * rng.uniform(0.4, 1.6), p_timeout=0.005 * rng.uniform(0.4, 1.6),
        p_oom=0.003 * oom * rng.uniform(0.4, 1.6), p_crash=0.002 * rng.uniform(0.4, 1.6),
        p_throttle=rng.uniform(0.005, 0.03) if i in (0, 1) or rng.random() < 0.4 else 0.0,
        idle_ms=rng.randint(180_000, 480_000), base_memory_mb=rng.randint(*_BASE_MEMORY[runtime]),
    )


# --- small pure helpers -------------------------------------------------------------------------

@functools.lru_cache(maxsize=8192)
def _second(sec: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))


def iso(ms: int) -> str:
    """ISO 8601 UTC with milliseconds, as Lambda prints it."""
    sec, rem = divmod(ms, 1000)
    return f"{_second(sec)}.{rem:03d}Z"


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _xray_id(rng: random.Random, ms: int) -> str:
    return f"1-{ms // 1000:08x}-{rng.getrandbits(96):024x}"


def _ceil_ms(*values: float) -> int:
    """ceil of a sum of 2-decimal values, exact (no float noise at whole milliseconds)."""
    hundredths = sum(round(v * 100) for v in values)
    return -(-hundredths // 100)


def text_report(rid: str, duration: float, billed: int, memory: int, used: int, *,
                init: float | None = None, restore: float | None = None,
                billed_restore: int | None = None, status: str | None = None,
                error_type: str | None = None, xray: tuple[str, str] | None = None) -> str:
    """A text REPORT line: tab-separated, a trailing tab unless it ends with a Status."""
    parts = [f"REPORT RequestId: {rid}", f"Duration: {duration:.2f} ms", f"Billed Duration: {billed} ms",
             f"Memory Size: {memory} MB", f"Max Memory Used: {used} MB"]
    if init is not None:
        parts.append(f"Init Duration: {init:.2f} ms")
    if restore is not None:
        parts += [f"Restore Duration: {restore:.2f} ms", f"Billed Restore Duration: {billed_restore} ms"]
    if status:
        parts.append(f"Status: {status}")
        if error_type:
            parts.append(f"Error Type: {error_type}")
    line = "\t".join(parts) + ("\n" if status else "\t\n")
    if xray:
        line += f"XRAY TraceId: {xray[0]}\tSegmentId: {xray[1]}\tSampled: true\n"
    return line


def _platform(ms: int, kind: str, record: dict) -> str:
    return orjson.dumps({"time": iso(ms), "type": f"platform.{kind}", "record": record}).decode()


def _encode(payload: dict) -> bytes:
    # zlib's gzip container (wbits=31) has no timestamp in its header: same input, same bytes
    return base64.b64encode(zlib.compress(orjson.dumps(payload), GZIP_LEVEL, wbits=31))


def encode_payload(payload: dict) -> str:
    """base64(gzip(json)): the `awslogs.data` string of a subscription delivery."""
    return _encode(payload).decode()


def _payload_line(payload: dict) -> bytes:
    return b'{"awslogs":{"data":"' + _encode(payload) + b'"}}\n'


# --- the simulation -----------------------------------------------------------------------------

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
    events: list = field(default_factory=list)


@dataclass(slots=True)
class _Pool:
    busy: list = field(default_factory=list)    # heap of (free_at, number, instance)
    idle: list = field(default_factory=list)    # stack: the most recently freed is reused first


def _stats(spec: FunctionSpec) -> dict:
    return {"runtime": spec.runtime, "memory_mb": spec.memory_mb, "architecture": spec.architecture,
            "log_format": spec.log_format, "timeout_s": spec.timeout_s, "version": spec.version,
            "invocations": 0, "cold_starts": 0, "provisioned_inits": 0, "snapstart_restores": 0,
            "errors": 0, "timeouts": 0, "out_of_memory": 0, "crashes": 0, "throttle_lines": 0,
            "instances": 0}


_OUTCOME_STAT = {"error": "errors", "timeout": "timeouts", "out_of_memory": "out_of_memory",
                 "crash": "crashes"}


def _draw_outcome(spec: FunctionSpec, rng: random.Random) -> tuple[str, bool]:
    """(outcome, disguised): an out-of-memory is disguised as a timeout about a third of the time."""
    r = rng.random()
    for outcome, p in (("error", spec.p_error), ("timeout", spec.p_timeout),
                       ("out_of_memory", spec.p_oom), ("crash", spec.p_crash)):
        if r < p:
            return outcome, outcome == "out_of_memory" and rng.random() < 0.3
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


def _traffic_start(config: FleetConfig, spec: FunctionSpec) -> int:
    """Provisioned functions get traffic minutes after their environments were initialised."""
    if not spec.provisioned:
        return config.start_ms
    return config.start_ms + min(180_000, int(config.minutes * 60_000 * 0.4))


class _Fleet:
    """Runs the fleet in event time; `payloads()` yields (file number, payload) as they ship."""

    def __init__(self, config: FleetConfig) -> None:
        self.c = config
        self.specs = fleet_functions(config)
        self.rng = random.Random(f"coldtrace-sim:{config.seed}")
        self.brng = random.Random(f"coldtrace-batch:{config.seed}")
        self.end_ms = config.start_ms + config.minutes * 60_000
        self.pools = [_Pool() for _ in self.specs]
        self.stats = {s.name: _stats(s) for s in self.specs}
        self.arns = {s.name: f"arn:aws:lambda:{config.region}::runtime:{random.Random(s.name).getrandbits(256):064x}"
                     for s in self.specs}
        self.open: dict[int, _Instance] = {}
        self.heap: list = []
        self.seq = 0
        self.instances = 0
        self.events = 0
        self.invocations: list[dict] = []
        self.traces: dict[str, dict] = {}
        self.payload_count = 0
        self.duplicates = 0
        self.incidents = IncidentBook(config.incidents, self.specs, config.start_ms, config.minutes,
                                      config.seed) if config.incidents else None

    # -- arrivals ---------------------------------------------------------------------------------
    def _rate_per_ms(self, spec: FunctionSpec, t: float) -> float:
        rate = self.c.invocations_per_minute * spec.rate_mult / 60_000
        window = self.end_ms - self.c.start_ms
        if spec.burst and 0.3 <= (t - self.c.start_ms) / window < 0.4:
            rate *= 4
        if self.incidents:
            rate *= self.incidents.rate_factor(spec, t)
        return rate

    def _push(self, t: float, fi: int, ctx: tuple | None) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, fi, ctx))

    def _next_root(self, spec: FunctionSpec, t: float) -> None:
        rate = self._rate_per_ms(spec, t)
        nxt = t + self.rng.expovariate(rate) if rate > 0 else math.inf
        if nxt < self.end_ms:
            self._push(nxt, spec.index, None)

    # -- environments -----------------------------------------------------------------------------
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
        rv, arn = _RUNTIME_VERSION[spec.runtime], self.arns[spec.name]
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
        rv, arn, js = _RUNTIME_VERSION[spec.runtime], self.arns[spec.name], spec.log_format == "json"
        init = round(self.rng.uniform(*_INIT_MS[spec.runtime]), 2)
        done = t + int(init)
        init_type = "provisioned-concurrency" if kind == "provisioned" else "on-demand"
        if js:
            self._emit(inst, t, _platform(t, "initStart", {
                "initializationType": init_type, "phase": "init", "runtimeVersion": rv,
                "runtimeVersionArn": arn, "functionName": spec.name, "functionVersion": spec.version}))
        else:
            self._emit(inst, t, f"INIT_START Runtime Version: {rv}\tRuntime Version ARN: {arn}\n")
        if spec.extension:
            ms = t + int(init * 0.8)
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

    # -- one invocation ---------------------------------------------------------------------------
    def _invoke(self, fi: int, t: float, ctx: tuple | None) -> None:
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
        extra = init if kind == "on-demand" else billed_restore if kind == "snapstart" else 0
        billed = _ceil_ms(min(duration, spec.timeout_s * 1000), extra or 0)
        used = spec.memory_mb if outcome == "out_of_memory" else min(
            spec.memory_mb - 1, spec.base_memory_mb + rng.randrange(25))
        end = start + int(duration)

        self._body(spec, inst, rng, rid, start, duration, kind, correlation, xray, parent_rid)
        self._finish(spec, inst, rng, rid, end, duration, billed, used, init, restore, billed_restore,
                     outcome, disguised, xray)
        self._record(spec, {"function": spec.name, "request_id": rid, "log_stream": inst.stream,
                            "outcome": outcome, "cold_start_kind": kind, "xray_trace_id": xray,
                            "correlation_id": correlation, "parent_request_id": parent_rid,
                            "start_ms": start, "duration_ms": duration,
                            "init_duration_ms": None if kind == "none" else init})   # a warm 0.00 is no init
        if self.incidents:
            self.incidents.record(spec, start, end, outcome, duration)
        inst.free_at = end
        if outcome not in ("out_of_memory", "crash"):     # a killed environment is retired
            heapq.heappush(self.pools[fi].busy, (end, inst.number, inst))
        if outcome == "success":
            for child, hop, p in spec.children:
                if rng.random() < p:
                    if hop == "sync":             # the caller is known: it logs a throttled call
                        self._push(start + rng.uniform(1.0, max(2.0, duration * 0.3)), child,
                                   (correlation, xray, rid, inst, fi))
                    else:                    # an SQS hop starts a new X-Ray trace, keeps the correlation id
                        self._push(end + rng.uniform(20.0, 800.0), child, (correlation, None, None))

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

    def _record(self, spec: FunctionSpec, inv: dict) -> None:
        """Count the invocation into the truth: function stats, invocations, traces."""
        stats = self.stats[spec.name]
        stats["invocations"] += 1
        stats["cold_starts"] += inv["cold_start_kind"] in ("on-demand", "snapstart")
        key = _OUTCOME_STAT.get(inv["outcome"])
        if key:
            stats[key] += 1
        if self.c.include_invocations:
            self.invocations.append(inv)
        correlation = inv["correlation_id"]
        if correlation:
            trace = self.traces.setdefault(correlation, {"correlation_id": correlation,
                                                         "xray_trace_ids": [], "members": []})
            if inv["xray_trace_id"] not in trace["xray_trace_ids"]:
                trace["xray_trace_ids"].append(inv["xray_trace_id"])
            trace["members"].append({"function": spec.name, "request_id": inv["request_id"],
                                     "parent_request_id": inv["parent_request_id"]})

    def _body(self, spec: FunctionSpec, inst: _Instance, rng: random.Random, rid: str, start: int,
              duration: float, kind: str, correlation: str | None, xray: str | None,
              parent_rid: str | None) -> None:
        """START, then the application lines spread over the invocation."""
        js = spec.log_format == "json"
        if js:
            rec = {"requestId": rid, "version": spec.version}
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
        if outcome == "error":
            etype, emsg, code = rng.choice(_ERRORS[spec.runtime])
            for line in _error_lines(spec, rng, end, rid, etype, emsg, code):
                self._emit(inst, end, line)
            status, error_type = "error", etype
        elif outcome == "timeout" or disguised:
            if not js:
                self._emit(inst, end, f"{iso(end)} {rid} Task timed out after {spec.timeout_s:.2f} seconds\n\n")
            status, error_type = "timeout", "Sandbox.Timedout"
        elif outcome in ("out_of_memory", "crash"):
            error_type = "Runtime.OutOfMemory" if outcome == "out_of_memory" else "Runtime.ExitError"
            why = "signal: killed" if outcome == "out_of_memory" else "exit status 1"
            if not js:
                self._emit(inst, end, f"RequestId: {rid} Error: Runtime exited with error: {why}\n{error_type}\n")
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
            if init is not None:
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

    # -- shipping ---------------------------------------------------------------------------------
    def _flush(self, inst: _Instance, until: float) -> Iterator[tuple[int, dict]]:
        """Ship the stream's events up to `until` as payloads of at most ~100-300 events."""
        events = inst.events
        n = 0
        while n < len(events) and events[n][0] <= until:
            n += 1
        spec = self.specs[inst.function]
        i = 0
        while i < n:
            cap, size, batch = self.brng.randint(100, 300), 0, []
            while i < n and len(batch) < cap and size < MAX_PAYLOAD_BYTES:
                ms, message = events[i]
                self.events += 1
                batch.append({"id": f"3{ms:015d}{self.c.seed % 1_000_000:06d}{self.events:034d}",
                              "timestamp": ms, "message": message})
                size += len(message)
                i += 1
            yield inst.file_no, {"messageType": "DATA_MESSAGE", "owner": self.c.account,
                                 "logGroup": f"/aws/lambda/{spec.name}", "logStream": inst.stream,
                                 "subscriptionFilters": [SUBSCRIPTION_FILTER], "logEvents": batch}
        del events[:n]
        if not events:
            self.open.pop(inst.number, None)

    def _checkpoint(self, now: float) -> Iterator[tuple[int, dict]]:
        ready = [i for i in self.open.values() if i.events[0][0] <= now - FLUSH_AGE_MS]
        ready.sort(key=lambda i: (i.events[0][0], i.number))
        for inst in ready:
            yield from self._flush(inst, now)

    def _shipments(self) -> Iterator[tuple[int, dict]]:
        c = self.c
        window = self.end_ms - c.start_ms
        controls = [c.start_ms + (k + 1) * window // (c.control_messages + 1) for k in range(c.control_messages)]
        for spec in self.specs:
            for _ in range(spec.provisioned):
                inst = self._create(spec, c.start_ms + self.rng.randrange(1000, 5000), "provisioned")
                heapq.heappush(self.pools[spec.index].busy, (inst.free_at, inst.number, inst))
            if spec.parent is None:
                self._next_root(spec, float(_traffic_start(c, spec)))
        checkpoint = c.start_ms + CHECKPOINT_MS
        while self.heap:
            t, _, fi, ctx = heapq.heappop(self.heap)
            while t >= checkpoint:
                while controls and controls[0] <= checkpoint:
                    yield len(controls) % c.files, _control(controls.pop(0))
                yield from self._checkpoint(checkpoint)
                checkpoint += CHECKPOINT_MS
            self._invoke(fi, t, ctx)
            if ctx is None:
                self._next_root(self.specs[fi], t)
        for inst in sorted(self.open.values(), key=lambda i: (i.events[0][0], i.number)):
            yield from self._flush(inst, math.inf)
        while controls:
            yield len(controls) % c.files, _control(controls.pop(0))

    def payloads(self) -> Iterator[tuple[int, dict]]:
        """Every delivery in shipping order; a few data payloads arrive a second time, a bit later."""
        drng = random.Random(f"coldtrace-dup:{self.c.seed}")
        rate = self.c.duplicate_payload_rate
        pending: list = []
        sent = 0
        last = None
        for file_no, payload in self._shipments():
            yield file_no, payload
            sent += 1
            if payload["messageType"] == "DATA_MESSAGE":
                last = (file_no, payload)
                if drng.random() < rate:
                    heapq.heappush(pending, (sent + drng.randint(1, 8), sent, file_no, payload))
            while pending and pending[0][0] <= sent:
                _, _, dup_file, dup = heapq.heappop(pending)
                yield dup_file, dup
                self.duplicates += 1
        for _, _, dup_file, dup in sorted(pending, key=lambda p: p[:2]):
            yield dup_file, dup
            self.duplicates += 1
        if rate > 0 and not self.duplicates and last:     # small fleets still exercise deduplication
            yield last
            self.duplicates += 1
        self.payload_count = sent + self.duplicates

    def truth(self) -> dict:
        """The ground truth; complete once `payloads()` is exhausted."""
        config = asdict(self.c)
        if not self.c.incidents:
            del config["incidents"]                       # the steady fleet's truth is unchanged
        out = {"config": config, "events": self.events, "payloads": self.payload_count,
               "control_messages": self.c.control_messages, "duplicate_payloads": self.duplicates,
               "functions": self.stats}
        if self.c.include_invocations:
            out["invocations"] = self.invocations
        out["traces"] = list(self.traces.values())
        if self.incidents:
            out.update(self.incidents.truth())
        return out


def _tracing(rng: random.Random, xray: str) -> dict:
    return {"spanId": f"{rng.getrandbits(64):016x}", "type": "X-Amzn-Trace-Id",
            "value": f"Root={xray};Parent={rng.getrandbits(64):016x};Sampled=1"}


def _control(ms: int) -> dict:
    return {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
            "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": ms, "message": CONTROL_MESSAGE}]}


def _app_line(spec: FunctionSpec, ms: int, rid: str, level: str, message: str) -> str:
    """An application log line in the runtime's own prefix style (or the JSON log format)."""
    runtime = spec.runtime
    if spec.log_format == "json":
        rec = {"timestamp": iso(ms), "level": level, "message": message}
        if runtime == "python3.12":
            rec["logger"] = "root"
        rec["requestId"] = rid
        return orjson.dumps(rec).decode()
    if runtime == "python3.12":
        return f"[{level}]\t{iso(ms)}\t{rid}\t{message}\n"
    if runtime == "nodejs20.x":
        return f"{iso(ms)}\t{rid}\t{level}\t{message}\n"
    if runtime == "java21":
        return f"{iso(ms)} {rid} {level} com.example.Handler - {message}\n"
    return f"{_second(ms // 1000).replace('-', '/').replace('T', ' ')}.{ms % 1000:03d}000 {level} {message}\n"


def _powertools_line(spec: FunctionSpec, ms: int, rid: str, kind: str, correlation: str | None,
                     xray: str | None, parent_rid: str | None, c: FleetConfig) -> str:
    """A Powertools Logger record: where correlation and X-Ray ids reach the logs."""
    stamp = (f"{_second(ms // 1000).replace('T', ' ')},{ms % 1000:03d}+0000" if spec.runtime == "python3.12"
             else iso(ms))
    rec = {"level": "INFO", "location": "handler:42", "message": "request accepted", "timestamp": stamp,
           "service": spec.name, "cold_start": kind in ("on-demand", "snapstart"), "function_name": spec.name,
           "function_memory_size": str(spec.memory_mb),
           "function_arn": f"arn:aws:lambda:{c.region}:{c.account}:function:{spec.name}",
           "function_request_id": rid}
    if correlation:
        rec["correlation_id"] = correlation
    if xray:
        rec["xray_trace_id"] = xray
    if parent_rid:
        rec["parent_request_id"] = parent_rid
    line = orjson.dumps(rec).decode()
    return line if spec.log_format == "json" else line + "\n"


def _error_lines(spec: FunctionSpec, rng: random.Random, ms: int, rid: str, etype: str, emsg: str,
                 code: str) -> list[str]:
    """What an uncaught exception leaves in the log (a Python traceback is ONE event)."""
    stack = _STACKS[spec.runtime]
    if spec.log_format == "json":
        return [orjson.dumps({"timestamp": iso(ms), "level": "ERROR", "message": {
            "errorMessage": emsg, "errorType": etype, "requestId": rid, "stackTrace": stack},
            "requestId": rid}).decode()]
    if spec.runtime == "python3.12":
        frame = f'  File "/var/task/app.py", line 12, in handler\n    {code}\n'
        lines = [f"[ERROR] {etype}: {emsg}\nTraceback (most recent call last):\n{frame}"]
        if rng.random() < 0.5:
            lines.append(json.dumps({"errorMessage": emsg, "errorType": etype, "requestId": rid,
                                     "stackTrace": [frame]}, ensure_ascii=False) + "\n")
        return lines
    if spec.runtime == "nodejs20.x":
        body = orjson.dumps({"errorType": etype, "errorMessage": emsg, "stack": [f"{etype}: {emsg}", *stack]})
        return [f"{iso(ms)}\t{rid}\tERROR\tInvoke Error \t{body.decode()}\n"]
    return [orjson.dumps({"errorMessage": emsg, "errorType": etype, "requestId": rid,
                          "stackTrace": stack}).decode() + "\n"]


# --- public entry points ------------------------------------------------------------------------

def simulate(config: FleetConfig) -> tuple[list[dict], dict]:
    """(payloads in delivery order, ground truth) held in memory: for small fleets and tests."""
    fleet = _Fleet(config)
    payloads = [payload for _, payload in fleet.payloads()]
    return payloads, fleet.truth()


def write_fleet(out_dir: str | Path, config: FleetConfig) -> dict:
    """Stream the fleet to out_dir/payloads-NNNNN.ndjson (+ ground_truth.json); returns the truth.

    A log stream always lands in the same file, so a reader of one file sees each stream in order.
    Earlier payloads-*.ndjson files in out_dir are removed first.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("payloads-*.ndjson"):          # a reader globs them: leave no earlier shards
        stale.unlink()
    (out / METRICS_FILE).unlink(missing_ok=True)
    fleet = _Fleet(config)
    handles = [open(out / f"payloads-{k:05d}.ndjson", "wb", buffering=1 << 20) for k in range(config.files)]
    try:
        for file_no, payload in fleet.payloads():
            handles[file_no].write(_payload_line(payload))
    finally:
        for handle in handles:
            handle.close()
    truth = fleet.truth()
    if fleet.incidents:                                 # what CloudWatch's metrics would show
        with open(out / METRICS_FILE, "wb") as f:
            for rec in fleet.incidents.metric_records(config.account, config.region):
                f.write(orjson.dumps(rec) + b"\n")
    indent = orjson.OPT_INDENT_2 if truth["events"] <= 200_000 else 0    # keep huge truths compact
    (out / "ground_truth.json").write_bytes(orjson.dumps(truth, option=indent))
    return truth


def _expected_events(config: FleetConfig) -> tuple[float, float]:
    """Expected log events as (per unit of invocations_per_minute, fixed): sizes a fleet up front."""
    specs = fleet_functions(config)
    rate = [0.0] * len(specs)             # invocations over the window per unit of invocations_per_minute
    fixed = 0.0
    window = config.minutes * 60_000
    per_unit = 0.0
    for s in specs:
        if s.parent is None:
            active = (config.start_ms + window - _traffic_start(config, s)) / 60_000
            rate[s.index] = s.rate_mult * active * (1.3 if s.burst else 1.0)
        success = 1 - s.p_error - s.p_timeout - s.p_oom - s.p_crash
        for child, _, p in s.children:
            rate[child] += rate[s.index] * p * success
        lines = 3 + sum(s.app_lines) / 2 + s.powertools + s.p_throttle
        lines += s.p_error * (1.25 if s.runtime == "python3.12" and s.log_format == "text" else 1.0)
        if s.log_format == "text":
            lines += s.p_timeout + s.p_oom + s.p_crash
        per_unit += rate[s.index] * lines
        fixed += 3 * (2 + bool(s.extension)) + s.provisioned * 2
    return per_unit, fixed


def _count_events(config: FleetConfig) -> int:
    fleet = _Fleet(replace(config, include_invocations=False))
    for _ in fleet._shipments():
        pass
    return fleet.events


def config_for_events(n_events: int, seed: int = 7, files: int = 8) -> FleetConfig:
    """A fleet sized to produce ~n_events log events (within ±15 %), 10 minutes when that fits.

    Large fleets follow the expected-value model; small ones are noisy, so the few candidates are
    simulated (cheap at that size) and the closest is kept.
    """
    functions = min(64, max(6, round(6 + math.sqrt(n_events) / 50)))
    if n_events < 1_000:                 # tiny fleets: fewer functions, or their cold starts alone overshoot
        functions = max(1, min(6, n_events // 150))
    base = FleetConfig(seed=seed, functions=functions, files=files, include_invocations=n_events <= 2_000_000)
    candidates: list[tuple[float, int, FleetConfig]] = []
    for minutes in range(1, 61):
        per_unit, fixed = _expected_events(replace(base, minutes=minutes))
        ipm = max(1, round((n_events - fixed) / per_unit))
        error = abs(ipm * per_unit + fixed - n_events) / max(n_events, 1)
        candidates.append((max(error, 0.02), abs(minutes - 10),
                           replace(base, minutes=minutes, invocations_per_minute=ipm)))
    candidates.sort(key=lambda c: c[:2])
    if n_events > 50_000:
        return candidates[0][2]
    best: tuple[float, FleetConfig] | None = None
    for _, _, config in candidates[:8 if n_events > 5_000 else 24]:
        error = abs(_count_events(config) - n_events) / max(n_events, 1)
        if error <= 0.05:
            return config
        if best is None or error < best[0]:
            best = (error, config)
    return best[1]


def main(argv: list[str] | None = None) -> None:
    """`python -m pipeline.sources.simulate OUT --events N`: write a fleet and print its size and speed."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--files", type=int, default=8)
    args = parser.parse_args(argv)
    config = config_for_events(args.events, seed=args.seed, files=args.files)
    began = time.perf_counter()
    truth = write_fleet(args.out, config)
    took = time.perf_counter() - began
    print(f"{truth['events']} events, {truth['payloads']} payloads, {config.functions} functions x "
          f"{config.minutes} min x {config.invocations_per_minute}/min in {took:.2f} s "
          f"({truth['events'] / took:,.0f} events/s)")


if __name__ == "__main__":
    main()
