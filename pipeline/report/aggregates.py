"""The report's and the summary's figures as one mergeable aggregate, bounded by the fleet's
shape (functions, memory sizes, time buckets), not by how many invocations it saw.

``ReportAggregate.add`` takes an index document or a model object (Invocation, Span list of a
trace, MetricPoint, Alarm); ``merge`` is associative and commutative, so Beam combines partial
aggregates on every worker (``pipeline.transforms.report_aggregates``) and the files of an older
run fold into the same thing line by line (``pipeline.report.load``). Pure: no Beam.

What each figure keeps, and why it is exact or not:
- counts, outcomes, maxima, kinds, runtimes, memory sizes: exact;
- cost: an exact (Shewchuk) float sum, so the order of the merges never shows;
- duration and memory-utilisation percentiles: ``pipeline.sketch.PercentileSketch`` (within its
  0.5 % relative accuracy of the nearest-rank value; minimum and maximum exact);
- init waits: the values themselves (8 bytes per cold start: cold starts are the few), so init
  percentiles and histograms are exact;
- concurrency: each invocation's (start, end) in two int64 arrays (16 bytes an invocation),
  the one figure that cannot be merged from summaries; peaks are computed at the end, exactly;
- time series: per bucket of the report's own axis (``series.bucket_interval``), coarsened as
  the time range grows — every interval divides the next, so a coarser bucket is a union of
  finer ones;
- traces: counts from root spans and the slowest few traces with their spans (top-N heaps).
"""

from __future__ import annotations

import base64
import math
import sys
from array import array
from collections import Counter
from collections.abc import Iterable
from typing import Any

from pipeline.cost import PRICE_PER_GB_S
from pipeline.model import Alarm, Invocation, MetricPoint, Span, iso_ms
from pipeline.model.common import MAX_ISO_MS
from pipeline.report.fields import (
    FAILED_OUTCOMES,
    end_ms,
    infer_architecture,
    init_wait_ms,
    iso_to_ms,
    runtime_family,
    start_ms,
)
from pipeline.report.series import bucket_interval
from pipeline.report.trace_figures import TraceFigures
from pipeline.sketch import PercentileSketch

METRIC_SERIES = ("throttles", "downstream_throttles", "max_concurrency", "iterator_age_max_ms")
VERSION = 1


# -- small mergeable parts ----------------------------------------------------------------------
def fsum_add(partials: list[float], x: float) -> None:
    """Shewchuk's exact running sum (the partials ``math.fsum`` would keep)."""
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]


def _array_to_json(a: array) -> str:
    b = a if sys.byteorder == "little" else array(a.typecode, a)
    if sys.byteorder != "little":
        b.byteswap()
    return base64.b64encode(b.tobytes()).decode("ascii")


def _array_from_json(typecode: str, text: str) -> array:
    a = array(typecode)
    a.frombytes(base64.b64decode(text))
    if sys.byteorder != "little":
        a.byteswap()
    return a


def _min(a, b):
    return b if a is None else a if b is None else min(a, b)


def _max(a, b):
    return b if a is None else a if b is None else max(a, b)


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
        return {"n": self.invocations, "cold": self.cold_starts, "inits": _array_to_json(self.inits)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Group:
        g = cls()
        g.invocations, g.cold_starts, g.inits = data["n"], data["cold"], _array_from_json("d", data["inits"])
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
        self.invocations += 1
        outcome = doc.get("aws.lambda.outcome", "unfinished")
        self.outcomes[outcome] += 1
        kind = doc.get("aws.lambda.cold_start_kind", "none")
        self.kinds[kind] += 1
        if kind == "provisioned":
            self.provisioned += 1
        cold = bool(doc.get("faas.coldstart"))
        group = self.groups.get(doc.get("aws.lambda.memory_size_mb") or 0)
        if group is None:
            group = self.groups[doc.get("aws.lambda.memory_size_mb") or 0] = Group()
        group.invocations += 1
        if cold:
            self.cold_starts += 1
            group.cold_starts += 1
            init = doc.get("aws.lambda.init_duration_ms") or doc.get("aws.lambda.restore_duration_ms")
            if init is not None:
                self.summary_inits.append(float(init))
            wait = init_wait_ms(doc)
            if wait is not None:
                group.inits.append(wait)
        if doc.get("aws.lambda.duration_ms") is not None:
            self.durations.add(float(doc["aws.lambda.duration_ms"]))
        if doc.get("aws.lambda.memory_utilization") is not None:
            self.utilization.add(float(doc["aws.lambda.memory_utilization"]))
        if doc.get("aws.lambda.max_memory_used_mb") is not None:
            self.max_memory_used = _max(self.max_memory_used, doc["aws.lambda.max_memory_used_mb"])
        if "throttle" in (doc.get("aws.lambda.signals") or ()):
            self.downstream_throttles += 1
        fsum_add(self.cost, doc.get("aws.lambda.estimated_cost_usd") or 0.0)
        if doc.get("aws.lambda.runtime_version"):
            self.runtimes[runtime_family(doc["aws.lambda.runtime_version"])] += 1
        if doc.get("aws.lambda.estimated_cost_usd") is not None and _tells_price(doc):
            self.architectures[infer_architecture((doc,))] += 1
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
        self.max_memory_used = _max(self.max_memory_used, o.max_memory_used)
        for x in o.cost:
            fsum_add(self.cost, x)
        self.runtimes.update(o.runtimes)
        for mem, g in o.groups.items():
            self.groups.setdefault(mem, Group()).merge(g)
        self.architectures.update(o.architectures)
        self.starts.extend(o.starts)
        self.ends.extend(o.ends)

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
                "summary_inits": _array_to_json(self.summary_inits), "durations": self.durations.to_dict(),
                "utilization": self.utilization.to_dict(), "max_mem": self.max_memory_used, "cost": self.cost,
                "runtimes": dict(self.runtimes), "groups": {str(k): g.to_json() for k, g in self.groups.items()},
                "arch": dict(self.architectures), "starts": _array_to_json(self.starts), "ends": _array_to_json(self.ends)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FunctionFigures:
        f = cls()
        f.invocations, f.cold_starts, f.provisioned, f.downstream_throttles = d["n"], d["cold"], d["prov"], d["down"]
        f.outcomes, f.kinds, f.runtimes = Counter(d["outcomes"]), Counter(d["kinds"]), Counter(d["runtimes"])
        f.summary_inits = _array_from_json("d", d["summary_inits"])
        f.durations = PercentileSketch.from_dict(d["durations"])
        f.utilization = PercentileSketch.from_dict(d["utilization"])
        f.max_memory_used, f.cost, f.architectures = d["max_mem"], list(d["cost"]), Counter(d["arch"])
        f.groups = {int(k): Group.from_json(g) for k, g in d["groups"].items()}
        f.starts, f.ends = _array_from_json("q", d["starts"]), _array_from_json("q", d["ends"])
        return f


def _tells_price(doc: dict[str, Any]) -> bool:
    """Is this document's cost large enough for ``infer_architecture`` to read a price from it?"""
    billed, mem = doc.get("aws.lambda.billed_duration_ms"), doc.get("aws.lambda.memory_size_mb")
    return bool(billed and mem) and (mem / 1024.0) * (billed / 1000.0) * PRICE_PER_GB_S["arm64"] >= 1e-9


def _ms(value: float | None) -> int:
    """A time as the document carries it (``iso_ms`` then back): the plain int as it is."""
    if type(value) is int and 0 <= value <= MAX_ISO_MS:
        return value
    return iso_to_ms(iso_ms(value))


def _fields_of(inv: Invocation) -> tuple[dict[str, Any], int, int]:
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


# -- time series on an axis that coarsens as the range grows ------------------------------------
class Buckets:
    """Per-bucket figures keyed by ``time // interval``; ``coarsen`` re-keys to a larger interval."""

    __slots__ = ("cold", "durations", "failed", "interval", "invocations", "metrics", "outcomes", "throttles")

    def __init__(self, interval: int = 1_000) -> None:
        self.interval = interval
        self.invocations: dict[str, dict[int, int]] = {}
        self.failed: dict[str, dict[int, int]] = {}
        self.cold: dict[str, dict[int, int]] = {}
        self.throttles: dict[str, dict[int, int]] = {}
        self.durations: dict[str, dict[int, PercentileSketch]] = {}
        self.outcomes: dict[str, dict[int, int]] = {}
        # (metric name, function, source) → bucket → [sum, max]
        self.metrics: dict[tuple[str, str, str], dict[int, list]] = {}

    def _count_maps(self):
        return (self.invocations, self.failed, self.cold, self.throttles, self.outcomes)

    def coarsen(self, interval: int) -> None:
        if interval <= self.interval:
            return
        old, self.interval = self.interval, interval

        def key(k: int) -> int:
            return k * old // interval

        for maps in self._count_maps():
            for name, row in maps.items():
                new: dict[int, int] = {}
                for k, v in row.items():
                    nk = key(k)
                    new[nk] = new.get(nk, 0) + v
                maps[name] = new
        for name, row in self.durations.items():
            sketches: dict[int, PercentileSketch] = {}
            for k, sk in row.items():
                nk = key(k)
                if nk in sketches:
                    sketches[nk].merge(sk)
                else:
                    sketches[nk] = sk
            self.durations[name] = sketches
        for name, row in self.metrics.items():
            merged: dict[int, list] = {}
            for k, (total, peak) in row.items():
                nk = key(k)
                if nk in merged:
                    merged[nk] = [merged[nk][0] + total, max(merged[nk][1], peak)]
                else:
                    merged[nk] = [total, peak]
            self.metrics[name] = merged

    def merge(self, o: Buckets) -> None:
        o.coarsen(self.interval)  # merge consumes ``o``: re-keyed in place
        self.coarsen(o.interval)
        for mine, theirs in zip(self._count_maps(), o._count_maps()):
            for name, row in theirs.items():
                target = mine.setdefault(name, {})
                for k, v in row.items():
                    target[k] = target.get(k, 0) + v
        for name, row in o.durations.items():
            target = self.durations.setdefault(name, {})
            for k, sk in row.items():
                if k in target:
                    target[k].merge(sk)
                else:
                    target[k] = sk
        for name, row in o.metrics.items():
            target = self.metrics.setdefault(name, {})
            for k, (total, peak) in row.items():
                if k in target:
                    target[k] = [target[k][0] + total, max(target[k][1], peak)]
                else:
                    target[k] = [total, peak]

    def to_json(self) -> dict[str, Any]:
        def ints(m):
            return {n: {str(k): v for k, v in row.items()} for n, row in m.items()}
        return {"interval": self.interval, "invocations": ints(self.invocations), "failed": ints(self.failed),
                "cold": ints(self.cold), "throttles": ints(self.throttles), "outcomes": ints(self.outcomes),
                "durations": {n: {str(k): s.to_dict() for k, s in row.items()} for n, row in self.durations.items()},
                "metrics": [[list(key), {str(k): v for k, v in row.items()}] for key, row in self.metrics.items()]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Buckets:
        b = cls(d["interval"])
        def ints(m):
            return {n: {int(k): v for k, v in row.items()} for n, row in m.items()}
        b.invocations, b.failed, b.cold = ints(d["invocations"]), ints(d["failed"]), ints(d["cold"])
        b.throttles, b.outcomes = ints(d["throttles"]), ints(d["outcomes"])
        b.durations = {n: {int(k): PercentileSketch.from_dict(s) for k, s in row.items()}
                       for n, row in d["durations"].items()}
        b.metrics = {tuple(key): {int(k): list(v) for k, v in row.items()} for key, row in d["metrics"]}
        return b


def _bump(maps: dict[str, dict[int, int]], name: str, k: int) -> None:
    row = maps.get(name)
    if row is None:
        row = maps[name] = {}
    row[k] = row.get(k, 0) + 1


# -- the aggregate --------------------------------------------------------------------------------
class ReportAggregate:
    """The figures of one run (or of a part of it, before the merge)."""

    def __init__(self) -> None:
        self.functions: dict[str, FunctionFigures] = {}
        self.lo: int | None = None  # time range of everything the report draws
        self.hi: int | None = None
        self.inv_lo: int | None = None  # time range of the invocations alone (cold starts per hour)
        self.inv_hi: int | None = None
        self.buckets = Buckets()
        self.metric_docs = 0
        self.metric_throttles: dict[tuple[str, str], int] = {}  # (function, source) → sum
        self.metric_sources: dict[tuple[str, str], list[str]] = {}  # (metric, function) → sources seen
        self.alarms: list[dict[str, Any]] = []
        self.traces = TraceFigures()
        # Set when read back: the output directory and the documents per index (None: no file).
        self.out_dir = ""
        self.counts: dict[str, int | None] = {}

    # ---- adding ----
    def add(self, item: Any) -> None:
        """An index document, or an Invocation, MetricPoint, Alarm, or a trace's list of Spans."""
        if isinstance(item, Invocation):
            self.add_invocation(*_fields_of(item))
        elif isinstance(item, MetricPoint):
            self.add_metric(item.to_doc())
        elif isinstance(item, Alarm):
            self.add_alarm(item.to_doc())
        elif isinstance(item, (list, tuple)) and (not item or isinstance(item[0], (Span, dict))):
            self.traces.add_trace(item)
        elif isinstance(item, dict):
            dataset = item.get("event.dataset")
            if dataset == "coldtrace.invocation":
                self.add_invocation(item)
            elif dataset == "coldtrace.metrics":
                self.add_metric(item)
            elif dataset == "coldtrace.alarm":
                self.add_alarm(item)
            elif dataset == "coldtrace.span":
                self.traces.add_trace([item])
            else:
                raise ValueError(f"not a document the report reads: event.dataset {dataset!r}")
        else:
            raise TypeError(f"cannot aggregate {type(item).__name__}")

    def _span(self, lo: int, hi: int) -> None:
        if self.lo is None or lo < self.lo or hi > self.hi:
            self.lo, self.hi = _min(self.lo, lo), _max(self.hi, hi)
            self.buckets.coarsen(bucket_interval(self.lo, self.hi))

    def add_invocation(self, doc: dict[str, Any], s: int | None = None, e: int | None = None) -> None:
        """An invocation document (or the fields of one, with its start and end: ``_fields_of``)."""
        if s is None:
            s, e = start_ms(doc), end_ms(doc)
        self._span(min(s, e), max(s, e))
        self.inv_lo, self.inv_hi = _min(self.inv_lo, s), _max(self.inv_hi, e)
        fn = doc.get("faas.name", "?")
        figures = self.functions.get(fn)
        if figures is None:
            figures = self.functions[fn] = FunctionFigures()
        figures.add(doc, s, e)
        b = self.buckets
        k = s // b.interval
        _bump(b.invocations, fn, k)
        _bump(b.outcomes, doc.get("aws.lambda.outcome", "unfinished"), k)
        if doc.get("aws.lambda.outcome") in FAILED_OUTCOMES:
            _bump(b.failed, fn, k)
        if doc.get("faas.coldstart"):
            _bump(b.cold, fn, k)
        if "throttle" in (doc.get("aws.lambda.signals") or ()):
            _bump(b.throttles, fn, k)
        if doc.get("aws.lambda.duration_ms") is not None:
            row = b.durations.setdefault(fn, {})
            sk = row.get(k)
            if sk is None:
                sk = row[k] = PercentileSketch()
            sk.add(float(doc["aws.lambda.duration_ms"]))

    def add_metric(self, doc: dict[str, Any]) -> None:
        s = start_ms(doc)
        self._span(s, s)
        self.metric_docs += 1
        fn, source = doc.get("faas.name", "?"), doc.get("coldtrace.metrics.source", "logs")
        k = s // self.buckets.interval
        for name in METRIC_SERIES:
            field = f"aws.lambda.metrics.{name}"
            if field not in doc:
                continue
            value = doc[field]
            row = self.buckets.metrics.setdefault((name, fn, source), {})
            row[k] = [row[k][0] + value, max(row[k][1], value)] if k in row else [value, value]
            seen = self.metric_sources.setdefault((name, fn), [])
            if source not in seen:
                seen.append(source)
            if name == "throttles":
                self.metric_throttles[(fn, source)] = self.metric_throttles.get((fn, source), 0) + int(value)

    def add_alarm(self, doc: dict[str, Any]) -> None:
        s = start_ms(doc)
        self._span(s, s)
        self.alarms.append({k: doc.get(k) for k in (
            "@timestamp", "faas.name", "rule.name", "coldtrace.alarm.state", "coldtrace.alarm.previous_state",
            "coldtrace.alarm.severity", "coldtrace.alarm.value", "coldtrace.alarm.threshold", "event.start",
            "message") if k in doc})

    # ---- merging and the JSON form ----
    def merge(self, o: ReportAggregate) -> ReportAggregate:
        """Add ``o`` into this aggregate; ``o`` is consumed (its parts may be shared)."""
        for fn, f in o.functions.items():
            if fn in self.functions:
                self.functions[fn].merge(f)
            else:
                self.functions[fn] = f
        if o.lo is not None:
            self.lo, self.hi = _min(self.lo, o.lo), _max(self.hi, o.hi)
            self.buckets.merge(o.buckets)
            self.buckets.coarsen(bucket_interval(self.lo, self.hi))
        self.inv_lo, self.inv_hi = _min(self.inv_lo, o.inv_lo), _max(self.inv_hi, o.inv_hi)
        self.metric_docs += o.metric_docs
        for key, v in o.metric_throttles.items():
            self.metric_throttles[key] = self.metric_throttles.get(key, 0) + v
        for key, sources in o.metric_sources.items():
            seen = self.metric_sources.setdefault(key, [])
            seen.extend(s for s in sources if s not in seen)
        self.alarms.extend(o.alarms)
        self.traces.merge(o.traces)
        return self

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, "lo": self.lo, "hi": self.hi, "inv_lo": self.inv_lo, "inv_hi": self.inv_hi,
                "functions": {fn: f.to_json() for fn, f in self.functions.items()},
                "buckets": self.buckets.to_json(), "metric_docs": self.metric_docs,
                "metric_throttles": [[list(k), v] for k, v in self.metric_throttles.items()],
                "metric_sources": [[list(k), v] for k, v in self.metric_sources.items()],
                "alarms": self.alarms, "traces": self.traces.to_json()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ReportAggregate:
        if d.get("version") != VERSION:
            raise ValueError(f"report aggregate version {d.get('version')!r}, this coldtrace reads {VERSION}")
        a = cls()
        a.lo, a.hi, a.inv_lo, a.inv_hi = d["lo"], d["hi"], d["inv_lo"], d["inv_hi"]
        a.functions = {fn: FunctionFigures.from_json(f) for fn, f in d["functions"].items()}
        a.buckets = Buckets.from_json(d["buckets"])
        a.metric_docs = d["metric_docs"]
        a.metric_throttles = {tuple(k): v for k, v in d["metric_throttles"]}
        a.metric_sources = {tuple(k): list(v) for k, v in d["metric_sources"]}
        a.alarms = list(d["alarms"])
        a.traces = TraceFigures.from_json(d["traces"])
        return a

    def __getstate__(self) -> dict[str, Any]:  # Beam's shuffle pickles accumulators: keep it compact
        return {"json": self.to_json(), "out_dir": self.out_dir, "counts": self.counts}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(ReportAggregate.from_json(state["json"]).__dict__)
        self.out_dir, self.counts = state["out_dir"], state["counts"]

    @classmethod
    def of(cls, items: Iterable[Any]) -> ReportAggregate:
        agg = cls()
        for item in items:
            agg.add(item)
        return agg
