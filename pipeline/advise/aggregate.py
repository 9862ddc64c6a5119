"""The advice aggregate: per function, per version, per memory size and per runtime version, the
figures advice needs, built one invocation at a time and merged across workers.

Mergeable like the percentile sketch it holds (``merge`` is associative and commutative, and an
aggregate built in parts then merged equals one built in one go), so the pipeline can fold it as
it runs and a reader can build it by streaming the invocations index line by line: memory grows
with functions, versions, memory sizes, minutes and seconds of the run, never with invocations.

``add`` takes an ``Invocation`` or its indexed document (``Invocation.to_doc()``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from pipeline.advise.thresholds import BUCKET_MS
from pipeline.aggregate_files import Pieces, drain, whole
from pipeline.model.invocation import Invocation
from pipeline.report.fields import (
    FAILED_OUTCOMES,
    architecture_of,
    end_ms,
    init_wait_ms,
    start_ms,
)
from pipeline.sketch import PercentileSketch
from pipeline.windows import DEFAULT_ARCHITECTURE

FORMAT_VERSION = 2
# Resolution of the busy-environments timeline: 100 ms tells most back-to-back invocations apart
# (Lambda durations are tens to hundreds of ms) at ten entries a second per function.
TICK_MS = 100
UNKNOWN_VERSION = "$LATEST"  # what Lambda runs when no version is named


def _sketch_json(s: PercentileSketch) -> dict[str, Any]:
    return s.to_dict()


def _add_counts(into: dict, other: dict) -> None:
    for k, n in other.items():
        into[k] = into.get(k, 0) + n


def _translate(mask: int, bits: list[int]) -> int:
    """A mask over one numbering of environments, in another: bit k becomes bit ``bits[k]``."""
    out, k = 0, 0
    while mask:
        if mask & 1:
            out |= 1 << bits[k]
        mask >>= 1
        k += 1
    return out


def _translator(bits: list[int]) -> Callable[[int], int]:
    """``_translate`` with ``bits`` fixed, for many masks: the identity when no bit moves, else a
    table per byte of the mask (a merge or a JSON form translates every busy tick's mask; bit by
    bit that was a loop per environment per tick)."""
    if all(b == k for k, b in enumerate(bits)):
        return _same
    tables = []
    for j in range(0, len(bits), 8):
        chunk = bits[j:j + 8]
        table = [0] * 256  # a mask has no bit past its last environment: the rest stay 0
        for v in range(1, 1 << len(chunk)):
            table[v] = _translate(v, chunk)
        tables.append(table)

    def by_bytes(mask: int) -> int:
        out = j = 0
        while mask:
            out |= tables[j][mask & 255]
            mask >>= 8
            j += 1
        return out

    return by_bytes


def _same(mask: int) -> int:
    return mask


@dataclass(slots=True)
class Row:
    """The figures of one invocation the aggregate reads, extracted once (from the model object
    or from its document) and then counted at every level."""

    function: str
    version: str
    outcome: str
    cold_kind: str
    t0: int
    t1: int
    env: str
    memory_mb: int | None = None
    duration_ms: float | None = None
    billed_ms: float | None = None
    init_wait_ms: float | None = None
    used_mb: float | None = None
    runtime_version: str | None = None
    architecture: str | None = None

    @classmethod
    def of_doc(cls, doc: dict[str, Any]) -> Row:
        t0 = start_ms(doc)
        mem, cost = doc.get("aws.lambda.memory_size_mb"), doc.get("aws.lambda.estimated_cost_usd")
        return cls(doc.get("faas.name", "?"), str(doc.get("faas.version") or UNKNOWN_VERSION),
                   doc.get("aws.lambda.outcome", "unfinished"), doc.get("aws.lambda.cold_start_kind", "none"),
                   t0, max(end_ms(doc), t0),
                   doc.get("faas.instance") or doc.get("log.stream") or doc.get("faas.execution", "?"),
                   int(mem) if mem else None, _float(doc.get("aws.lambda.duration_ms")),
                   _float(doc.get("aws.lambda.billed_duration_ms")), init_wait_ms(doc),
                   _float(doc.get("aws.lambda.max_memory_used_mb")), doc.get("aws.lambda.runtime_version"),
                   None if cost is None else architecture_of(cost, doc.get("aws.lambda.billed_duration_ms"), mem)
                   or DEFAULT_ARCHITECTURE)

    @classmethod
    def of_invocation(cls, inv: Invocation) -> Row:
        """What ``of_doc(inv.to_doc())`` gives, without building the document."""
        t0 = inv.start_ms if inv.start_ms is not None else (inv.end_ms or 0)
        t1 = inv.end_ms if inv.end_ms is not None else t0 + int(inv.duration_ms or 0)
        wait = None
        if inv.cold_start:
            wait = inv.init_duration_ms if inv.init_duration_ms is not None else inv.restore_duration_ms
        arch = None
        if inv.estimated_cost_usd is not None:  # as of_doc reads the document
            arch = architecture_of(inv.estimated_cost_usd, inv.billed_duration_ms, inv.memory_size_mb) or DEFAULT_ARCHITECTURE
        return cls(inv.function_name, str(inv.function_version or UNKNOWN_VERSION), inv.outcome, inv.cold_start_kind,
                   t0, max(t1, t0), inv.instance_id or inv.log_stream or inv.request_id,
                   int(inv.memory_size_mb) if inv.memory_size_mb else None, _float(inv.duration_ms),
                   _float(inv.billed_duration_ms), _float(wait), _float(inv.max_memory_used_mb),
                   inv.runtime_version, arch)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass
class Stats:
    """Counts, outcomes and distributions of one slice of a function's invocations."""

    n: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    cold: dict[str, int] = field(default_factory=dict)           # cold-start kind → count
    memory_sizes: dict[int, int] = field(default_factory=dict)
    billed_ms_sum: float = 0.0
    success_billed_ms_sum: float = 0.0   # successful invocations only: how long they take depends
    success_billed_n: int = 0            # on memory, while a timeout's or a crash's does not
    duration: PercentileSketch = field(default_factory=PercentileSketch)
    billed: PercentileSketch = field(default_factory=PercentileSketch)
    init: PercentileSketch = field(default_factory=PercentileSketch)   # what a cold start waited
    used: PercentileSketch = field(default_factory=PercentileSketch)   # max memory used, MB
    first_ms: int | None = None
    last_ms: int | None = None

    @property
    def failed(self) -> int:
        return sum(n for o, n in self.outcomes.items() if o in FAILED_OUTCOMES)

    @property
    def oom(self) -> int:
        return self.outcomes.get("out_of_memory", 0)

    def add(self, r: Row) -> None:
        self.n += 1
        outcomes, cold = self.outcomes, self.cold
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
        cold[r.cold_kind] = cold.get(r.cold_kind, 0) + 1
        if r.memory_mb:
            self.memory_sizes[r.memory_mb] = self.memory_sizes.get(r.memory_mb, 0) + 1
        if r.duration_ms is not None:
            self.duration.add(r.duration_ms)
        if r.billed_ms is not None:
            self.billed.add(r.billed_ms)
            self.billed_ms_sum += r.billed_ms
            if r.outcome == "success":
                self.success_billed_ms_sum += r.billed_ms
                self.success_billed_n += 1
        if r.init_wait_ms is not None:
            self.init.add(r.init_wait_ms)
        if r.used_mb is not None:
            self.used.add(r.used_mb)
        if self.first_ms is None or r.t0 < self.first_ms:
            self.first_ms = r.t0
        if self.last_ms is None or r.t1 > self.last_ms:
            self.last_ms = r.t1

    def merge(self, other: Stats) -> Stats:
        self.n += other.n
        _add_counts(self.outcomes, other.outcomes)
        _add_counts(self.cold, other.cold)
        _add_counts(self.memory_sizes, other.memory_sizes)
        self.billed_ms_sum += other.billed_ms_sum
        self.success_billed_ms_sum += other.success_billed_ms_sum
        self.success_billed_n += other.success_billed_n
        for name in ("duration", "billed", "init", "used"):
            getattr(self, name).merge(getattr(other, name))
        if other.first_ms is not None:
            self.first_ms = other.first_ms if self.first_ms is None else min(self.first_ms, other.first_ms)
            self.last_ms = other.last_ms if self.last_ms is None else max(self.last_ms, other.last_ms)
        return self

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "outcomes": dict(sorted(self.outcomes.items())), "cold": dict(sorted(self.cold.items())),
                "memory_sizes": {str(k): v for k, v in sorted(self.memory_sizes.items())},
                "billed_ms_sum": self.billed_ms_sum, "success_billed_ms_sum": self.success_billed_ms_sum,
                "success_billed_n": self.success_billed_n, "first_ms": self.first_ms, "last_ms": self.last_ms,
                **{name: _sketch_json(getattr(self, name)) for name in ("duration", "billed", "init", "used")}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Stats:
        return cls(n=int(d["n"]), outcomes=dict(d["outcomes"]), cold=dict(d["cold"]),
                   memory_sizes={int(k): int(v) for k, v in d["memory_sizes"].items()},
                   billed_ms_sum=float(d["billed_ms_sum"]), success_billed_ms_sum=float(d["success_billed_ms_sum"]),
                   success_billed_n=int(d["success_billed_n"]), first_ms=d["first_ms"], last_ms=d["last_ms"],
                   **{name: PercentileSketch.from_dict(d[name]) for name in ("duration", "billed", "init", "used")})


@dataclass
class Bucket:
    """One minute of one function version: for before/after splits at a runtime update."""

    n: int = 0
    failed: int = 0
    duration: PercentileSketch = field(default_factory=PercentileSketch)

    def merge(self, other: Bucket) -> Bucket:
        self.n += other.n
        self.failed += other.failed
        self.duration.merge(other.duration)
        return self

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "failed": self.failed, "duration": _sketch_json(self.duration)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Bucket:
        return cls(int(d["n"]), int(d["failed"]), PercentileSketch.from_dict(d["duration"]))


@dataclass
class FunctionAgg:
    """One function: overall, per version, per memory size, per (version, runtime version), the
    version's minute buckets, the architectures its costs imply, and the environments busy in each
    ``TICK_MS`` (peak concurrency: an environment runs one invocation at a time, so the most
    environments busy in one tick is the peak, give or take two invocations sharing a tick)."""

    versions: dict[str, Stats] = field(default_factory=dict)
    memories: dict[int, Stats] = field(default_factory=dict)
    runtimes: dict[str, dict[str, Stats]] = field(default_factory=dict)   # version → runtime version → cold starts
    buckets: dict[str, dict[int, Bucket]] = field(default_factory=dict)   # version → minute → bucket
    architectures: dict[str, int] = field(default_factory=dict)
    envs: dict[str, int] = field(default_factory=dict)                    # environment → its bit
    busy: dict[int, int] = field(default_factory=dict)                    # tick → bit mask of environments busy
    # False: no busy timeline (streaming keeps the aggregate only for regressions, which never
    # read it, and the timeline grows with every busy 100 ms of the job)
    timeline: bool = True

    def add(self, r: Row) -> None:
        stats = self.versions.get(r.version)
        if stats is None:
            stats = self.versions[r.version] = Stats()
        stats.add(r)
        if r.memory_mb:
            stats = self.memories.get(r.memory_mb)
            if stats is None:
                stats = self.memories[r.memory_mb] = Stats()
            stats.add(r)
        if r.runtime_version:   # known on the invocation that paid the init: the environment's runtime
            self.runtimes.setdefault(r.version, {}).setdefault(r.runtime_version, Stats()).add(r)
        minutes = self.buckets.get(r.version)
        if minutes is None:
            minutes = self.buckets[r.version] = {}
        bucket = minutes.get(r.t0 // BUCKET_MS)
        if bucket is None:
            bucket = minutes[r.t0 // BUCKET_MS] = Bucket()
        bucket.n += 1
        bucket.failed += r.outcome in FAILED_OUTCOMES
        if r.duration_ms is not None:
            bucket.duration.add(r.duration_ms)
        if r.architecture is not None:
            self.architectures[r.architecture] = self.architectures.get(r.architecture, 0) + 1
        if not self.timeline:
            return
        bit = 1 << self.envs.setdefault(r.env, len(self.envs))
        busy = self.busy
        for tick in range(r.t0 // TICK_MS, r.t1 // TICK_MS + 1):
            busy[tick] = busy.get(tick, 0) | bit

    @property
    def overall(self) -> Stats:
        """Every invocation of the function: its versions merged."""
        out = Stats()
        for stats in self.versions.values():
            out.merge(stats)
        return out

    @property
    def architecture(self) -> str:
        return max(sorted(self.architectures), key=self.architectures.get) if self.architectures else "x86_64"

    @property
    def peak_concurrency(self) -> int:
        return max((mask.bit_count() for mask in self.busy.values()), default=0)

    @property
    def current_memory_mb(self) -> int | None:
        """The memory size of the latest invocations: what the function is configured with now."""
        if not self.memories:
            return None
        return max(self.memories, key=lambda m: (self.memories[m].last_ms or 0, m))

    def merge(self, other: FunctionAgg) -> FunctionAgg:
        for mine, theirs in ((self.versions, other.versions), (self.memories, other.memories)):
            for key, stats in theirs.items():
                mine.setdefault(key, Stats()).merge(stats)
        for version, runtimes in other.runtimes.items():
            for rt, stats in runtimes.items():
                self.runtimes.setdefault(version, {}).setdefault(rt, Stats()).merge(stats)
        for version, buckets in other.buckets.items():
            for minute, b in buckets.items():
                self.buckets.setdefault(version, {}).setdefault(minute, Bucket()).merge(b)
        _add_counts(self.architectures, other.architectures)
        bits = [self.envs.setdefault(env, len(self.envs)) for env in sorted(other.envs, key=other.envs.get)]
        move = _translator(bits)
        busy = self.busy
        for tick, mask in other.busy.items():
            busy[tick] = busy.get(tick, 0) | move(mask)
        return self

    def to_json(self) -> dict[str, Any]:
        return {"versions": {k: s.to_json() for k, s in sorted(self.versions.items())},
                "memories": {str(k): s.to_json() for k, s in sorted(self.memories.items())},
                "runtimes": {v: {rt: s.to_json() for rt, s in sorted(rts.items())}
                             for v, rts in sorted(self.runtimes.items())},
                "buckets": {v: {str(m): b.to_json() for m, b in sorted(bs.items())}
                            for v, bs in sorted(self.buckets.items())},
                "architectures": dict(sorted(self.architectures.items())),
                **self._busy_json()}

    def _busy_json(self) -> dict[str, Any]:
        """Environments by name and masks in that order: one form however the aggregate was merged
        (masks as hex: they outgrow JSON's 64-bit integers)."""
        names = sorted(self.envs)
        order = {env: k for k, env in enumerate(names)}
        move = _translator([order[env] for env in sorted(self.envs, key=self.envs.get)])
        return {"envs": names,
                "busy": {str(t): f"{move(mask):x}" for t, mask in sorted(self.busy.items())}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FunctionAgg:
        return cls(versions={k: Stats.from_json(s) for k, s in d["versions"].items()},
                   memories={int(k): Stats.from_json(s) for k, s in d["memories"].items()},
                   runtimes={v: {rt: Stats.from_json(s) for rt, s in rts.items()} for v, rts in d["runtimes"].items()},
                   buckets={v: {int(m): Bucket.from_json(b) for m, b in bs.items()} for v, bs in d["buckets"].items()},
                   architectures=dict(d["architectures"]),
                   envs={env: k for k, env in enumerate(d["envs"])},
                   busy={int(t): int(mask, 16) for t, mask in d["busy"].items()})


@dataclass
class AdviceAggregate:
    """Every function's ``FunctionAgg``; ``add`` one invocation, ``merge`` another aggregate."""

    functions: dict[str, FunctionAgg] = field(default_factory=dict)
    timeline: bool = True   # see FunctionAgg.timeline

    def add(self, invocation: Any) -> AdviceAggregate:
        """Count one invocation: an ``Invocation`` or its document (``Invocation.to_doc()``)."""
        row = Row.of_doc(invocation) if isinstance(invocation, dict) else Row.of_invocation(invocation)
        fn = self.functions.get(row.function)
        if fn is None:
            fn = self.functions[row.function] = FunctionAgg(timeline=self.timeline)
        fn.add(row)
        return self

    @property
    def invocations(self) -> int:
        return sum(s.n for fn in self.functions.values() for s in fn.versions.values())

    def merge(self, other: AdviceAggregate) -> AdviceAggregate:
        for name, fn in other.functions.items():
            self.functions.setdefault(name, FunctionAgg(timeline=self.timeline)).merge(fn)
        return self

    def to_json(self) -> dict[str, Any]:
        return whole(self.json_pieces())

    def json_pieces(self) -> Pieces:
        """The JSON form, made one function at a time as it is written (``aggregate_files``)."""
        return Pieces([("format", FORMAT_VERSION),
                       ("functions", Pieces((name, fn.to_json) for name, fn in sorted(self.functions.items())))])

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AdviceAggregate:
        if d.get("format") != FORMAT_VERSION:
            raise ValueError(f"advice aggregate format {d.get('format')!r}, expected {FORMAT_VERSION}")
        return cls({name: FunctionAgg.from_json(fn) for name, fn in drain(d["functions"])})  # d taken apart
