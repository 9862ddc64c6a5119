"""One function's figures in the report's aggregate (``FunctionFigures``), by memory size
(``Group``), and what the aggregate reads of an Invocation without rendering its document
(``fields_of``). Mergeable; pure."""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable
from typing import Any

from pipeline.model import Invocation, iso_ms
from pipeline.model.common import MAX_ISO_MS
from pipeline.report.fields import architecture_of, init_wait_ms, iso_to_ms, runtime_family
from pipeline.report.mergeable import array_from_json, array_to_json, fsum_add, max_of, pack_intervals, unpack_intervals
from pipeline.sketch import PercentileSketch


class Group:
    """Invocations, cold starts and init waits of one (function, memory size)."""

    __slots__ = ("cold_starts", "inits", "invocations")

    def __init__(self) -> None:
        self.invocations = self.cold_starts = 0
        self.inits = array("d")

    def merge(self, other: Group) -> None:
        self.invocations += other.invocations
        self.cold_starts += other.cold_starts
        self.inits.extend(other.inits)

    def to_json(self) -> dict[str, Any]:
        return {"n": self.invocations, "cold": self.cold_starts, "inits": array_to_json(self.inits)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Group:
        g = cls()
        g.invocations, g.cold_starts, g.inits = data["n"], data["cold"], array_from_json("d", data["inits"])
        return g


class FunctionFigures:
    """Everything the report and the summary say about one function."""

    __slots__ = (
        "architectures",
        "cold_starts",
        "cost",
        "downstream_throttles",
        "durations",
        "ends",
        "groups",
        "invocations",
        "kinds",
        "max_memory_used",
        "outcomes",
        "provisioned",
        "runtimes",
        "starts",
        "summary_inits",
        "utilization",
    )

    def __init__(self) -> None:
        self.invocations = self.cold_starts = self.provisioned = self.downstream_throttles = 0
        self.outcomes: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.summary_inits = array("d")  # init or restore of a cold start, as the summary reads them
        self.durations = PercentileSketch()
        self.utilization = PercentileSketch()
        self.max_memory_used: float | None = None
        self.cost: list[float] = []
        self.runtimes: Counter[str] = Counter()
        self.groups: dict[int, Group] = {}  # by memory size (0: unknown)
        self.architectures: Counter[str] = Counter()  # what each invocation's cost implies
        self.starts, self.ends = array("q"), array("q")

    def add(self, doc: dict[str, Any], s: int, e: int) -> None:
        get = doc.get
        self.invocations += 1
        self.outcomes[get("aws.lambda.outcome", "unfinished")] += 1
        kind = get("aws.lambda.cold_start_kind", "none")
        self.kinds[kind] += 1
        if kind == "provisioned":
            self.provisioned += 1
        mem = get("aws.lambda.memory_size_mb") or 0
        group = self.groups.get(mem)
        if group is None:
            group = self.groups[mem] = Group()
        group.invocations += 1
        if get("faas.coldstart"):
            self.cold_starts += 1
            group.cold_starts += 1
            init = get("aws.lambda.init_duration_ms") or get("aws.lambda.restore_duration_ms")
            if init is not None:
                self.summary_inits.append(float(init))
            wait = init_wait_ms(doc)
            if wait is not None:
                group.inits.append(wait)
        duration = get("aws.lambda.duration_ms")
        if duration is not None:
            self.durations.add(float(duration))
        utilization = get("aws.lambda.memory_utilization")
        if utilization is not None:
            self.utilization.add(float(utilization))
        used = get("aws.lambda.max_memory_used_mb")
        if used is not None:
            self.max_memory_used = max_of(self.max_memory_used, used)
        if "throttle" in (get("aws.lambda.signals") or ()):
            self.downstream_throttles += 1
        cost = get("aws.lambda.estimated_cost_usd")
        fsum_add(self.cost, cost or 0.0)
        runtime = get("aws.lambda.runtime_version")
        if runtime:
            self.runtimes[runtime_family(runtime)] += 1
        if cost is not None:  # counted where the cost is large enough to tell the prices apart
            arch = architecture_of(cost, get("aws.lambda.billed_duration_ms"), get("aws.lambda.memory_size_mb"))
            if arch is not None:
                self.architectures[arch] += 1
        self.starts.append(s)
        self.ends.append(e)

    def merge(self, o: FunctionFigures) -> None:
        self.invocations += o.invocations
        self.cold_starts += o.cold_starts
        self.provisioned += o.provisioned
        self.downstream_throttles += o.downstream_throttles
        self.outcomes.update(o.outcomes)
        self.kinds.update(o.kinds)
        self.summary_inits.extend(o.summary_inits)
        self.durations.merge(o.durations)
        self.utilization.merge(o.utilization)
        self.max_memory_used = max_of(self.max_memory_used, o.max_memory_used)
        for x in o.cost:
            fsum_add(self.cost, x)
        self.runtimes.update(o.runtimes)
        for mem, g in o.groups.items():
            self.groups.setdefault(mem, Group()).merge(g)
        self.architectures.update(o.architectures)
        self.starts.extend(o.starts)
        self.ends.extend(o.ends)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (Beam's shuffle of partial aggregates) with the interval columns packed."""
        state = {name: getattr(self, name) for name in self.__slots__ if name not in ("starts", "ends")}
        state["intervals"] = pack_intervals(self.starts, self.ends)
        return state

    def __setstate__(self, state) -> None:
        """Also what an older coldtrace pickled: slots as they were, the columns unpacked."""
        slots = dict(state[1] if isinstance(state, tuple) else state)
        packed = slots.pop("intervals", None)
        if packed is not None:
            slots["starts"], slots["ends"] = unpack_intervals(packed)
        for name, value in slots.items():
            setattr(self, name, value)

    @property
    def cost_usd(self) -> float:
        return math.fsum(self.cost)

    @property
    def architecture(self) -> str:
        """x86_64 or arm64: what most invocations' cost implies (``fields.infer_architecture``)."""
        if not self.architectures:
            return "x86_64"
        return min(self.architectures, key=lambda a: (-self.architectures[a], a))

    @property
    def inits(self) -> list[float]:
        return [v for g in self.groups.values() for v in g.inits]

    def intervals(self) -> Iterable[tuple[int, int]]:
        return zip(self.starts, self.ends)

    def to_json(self) -> dict[str, Any]:
        return {"n": self.invocations, "cold": self.cold_starts, "prov": self.provisioned,
                "down": self.downstream_throttles, "outcomes": dict(self.outcomes), "kinds": dict(self.kinds),
                "summary_inits": array_to_json(self.summary_inits), "durations": self.durations.to_dict(),
                "utilization": self.utilization.to_dict(), "max_mem": self.max_memory_used, "cost": self.cost,
                "runtimes": dict(self.runtimes), "groups": {str(k): g.to_json() for k, g in self.groups.items()},
                "arch": dict(self.architectures), "starts": array_to_json(self.starts), "ends": array_to_json(self.ends)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FunctionFigures:
        f = cls()
        f.invocations, f.cold_starts, f.provisioned, f.downstream_throttles = d["n"], d["cold"], d["prov"], d["down"]
        f.outcomes, f.kinds, f.runtimes = Counter(d["outcomes"]), Counter(d["kinds"]), Counter(d["runtimes"])
        f.summary_inits = array_from_json("d", d["summary_inits"])
        f.durations = PercentileSketch.from_dict(d["durations"])
        f.utilization = PercentileSketch.from_dict(d["utilization"])
        f.max_memory_used, f.cost, f.architectures = d["max_mem"], list(d["cost"]), Counter(d["arch"])
        f.groups = {int(k): Group.from_json(g) for k, g in d["groups"].items()}
        f.starts, f.ends = array_from_json("q", d["starts"]), array_from_json("q", d["ends"])
        return f


def _ms(value: float | None) -> int:
    """A time as the document carries it (``iso_ms`` then back): the plain int as it is."""
    if type(value) is int and 0 <= value <= MAX_ISO_MS:
        return value
    return iso_to_ms(iso_ms(value))


def fields_of(inv: Invocation) -> tuple[dict[str, Any], int, int]:
    """What ``add_invocation`` reads of ``inv.to_doc()``, without rendering the whole document
    (the index writer renders it already): the same keys, None where the document has none."""
    start = _ms(inv.start_ms if inv.start_ms is not None else (inv.end_ms or 0))
    end = _ms(inv.end_ms) if inv.end_ms is not None else start + int(inv.duration_ms or 0)
    util = (round(inv.max_memory_used_mb / inv.memory_size_mb, 4)
            if inv.memory_size_mb and inv.max_memory_used_mb is not None else None)
    return ({"faas.name": inv.function_name, "aws.lambda.outcome": inv.outcome,
             "aws.lambda.cold_start_kind": inv.cold_start_kind, "faas.coldstart": inv.cold_start,
             "aws.lambda.memory_size_mb": inv.memory_size_mb, "aws.lambda.init_duration_ms": inv.init_duration_ms,
             "aws.lambda.restore_duration_ms": inv.restore_duration_ms, "aws.lambda.duration_ms": inv.duration_ms,
             "aws.lambda.memory_utilization": util, "aws.lambda.max_memory_used_mb": inv.max_memory_used_mb,
             "aws.lambda.signals": inv.signals or None, "aws.lambda.estimated_cost_usd": inv.estimated_cost_usd,
             "aws.lambda.runtime_version": inv.runtime_version,
             "aws.lambda.billed_duration_ms": inv.billed_duration_ms}, start, end)
