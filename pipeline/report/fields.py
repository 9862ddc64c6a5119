"""Reading indexed documents back: times, percentiles and the field names the views use.

Views work on the documents as indexed (``to_doc()`` output), so the report shows what
Elasticsearch would hold and never re-derives a figure the pipeline already wrote.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable

from pipeline.cost import PRICE_PER_GB_S, PRICE_PER_REQUEST
from pipeline.report.series import concurrency_per_bucket
from pipeline.sketch import PercentileSketch
from pipeline.windows import DEFAULT_ARCHITECTURE

OUTCOME_ORDER = ("success", "error", "timeout", "out_of_memory", "crash", "unfinished")
FAILED_OUTCOMES = frozenset(("error", "timeout", "out_of_memory", "crash"))


@lru_cache(maxsize=65536)
def _second_ms(prefix: str) -> int:
    return int(datetime.fromisoformat(prefix + "+00:00").timestamp()) * 1000


def iso_to_ms(value: str) -> int:
    """``2024-05-01T10:00:01.392Z`` (model.iso_ms's form) → epoch milliseconds."""
    if len(value) == 24 and value[19] == "." and value[23] == "Z":
        return _second_ms(value[:19]) + int(value[20:23])
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def start_ms(doc: dict[str, Any]) -> int:
    return iso_to_ms(doc["@timestamp"])


def end_ms(doc: dict[str, Any]) -> int:
    """End of an invocation: ``event.end``, else start plus duration, else the start."""
    if "event.end" in doc:
        return iso_to_ms(doc["event.end"])
    return start_ms(doc) + int(doc.get("aws.lambda.duration_ms") or 0)


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (the summary table's definition) of sorted values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def percentiles(values: Iterable[float], qs: tuple[int, ...] = (50, 95, 99)) -> dict[str, float | None]:
    s = sorted(values)
    out: dict[str, float | None] = {f"p{q}": percentile(s, q) for q in qs}
    out["max"] = s[-1] if s else None
    return out


def sketch_percentiles(sketch: PercentileSketch, qs: tuple[int, ...] = (50, 95, 99),
                       digits: int = 2) -> dict[str, float | None]:
    """``percentiles`` read from a sketch: within its relative accuracy, rounded to ``digits``
    (what the documents carry: 0.01 ms durations, 4-digit utilisations); the maximum is exact."""
    out: dict[str, float | None] = {}
    for q in qs:
        v = sketch.quantile(q / 100.0)
        out[f"p{q}"] = None if v is None else round(v, digits)
    out["max"] = sketch.max if sketch.count else None
    return out


def is_failed(doc: dict[str, Any]) -> bool:
    return doc.get("aws.lambda.outcome") in FAILED_OUTCOMES


def is_throttle(doc: dict[str, Any]) -> bool:
    """An invocation that logged a throttling error (TooManyRequests, Throttling, ...)."""
    return "throttle" in (doc.get("aws.lambda.signals") or ())


def init_wait_ms(doc: dict[str, Any]) -> float | None:
    """What the caller waited for before the handler ran: init, or restore for SnapStart."""
    if not doc.get("faas.coldstart"):
        return None
    value = doc.get("aws.lambda.init_duration_ms")
    if value is None:
        value = doc.get("aws.lambda.restore_duration_ms")
    return None if value is None else float(value)


def runtime_family(runtime_version: str | None) -> str | None:
    """``python:3.12.v38`` → ``python:3.12`` (the runtime, without Lambda's patch release)."""
    if not runtime_version:
        return None
    head, dot, tail = runtime_version.rpartition(".")
    return head if dot and tail.startswith("v") and tail[1:].isdigit() else runtime_version


def infer_architecture(docs: Iterable[dict[str, Any]]) -> str:
    """x86_64 or arm64, from the GB-second price the pipeline's cost estimate implies.

    Invocation documents carry no architecture, but ``estimated_cost_usd`` was computed from
    it (``pipeline.cost``), so the price per GB-second it implies names it."""
    for doc in docs:
        arch = architecture_of(doc.get("aws.lambda.estimated_cost_usd"), doc.get("aws.lambda.billed_duration_ms"),
                               doc.get("aws.lambda.memory_size_mb"))
        if arch is not None:
            return arch
    return DEFAULT_ARCHITECTURE


_PRICES = tuple(PRICE_PER_GB_S.items())
_ARM64_PRICE = PRICE_PER_GB_S["arm64"]


def architecture_of(cost: float | None, billed: float | None, mem: float | None) -> str | None:
    """The architecture one invocation's cost implies (the price nearest to it, the first listed
    on a tie), or None when the figures cannot tell (no cost, or too small to tell the prices apart)."""
    if cost is None or not billed or not mem:
        return None
    gb_s = (mem / 1024.0) * (billed / 1000.0)
    if not gb_s * _ARM64_PRICE >= 1e-9:  # too small to tell the prices apart, or NaN
        return None
    price = (cost - PRICE_PER_REQUEST) / gb_s
    best, best_d = "", 0.0
    for arch, p in _PRICES:
        d = abs(p - price)
        if not best or d < best_d:
            best, best_d = arch, d
    return best


def peak_concurrency(intervals: Iterable[tuple[int, int]]) -> int:
    """Most invocations running at once (an end at t frees its slot before a start at t)."""
    pairs = list(intervals)
    return max(concurrency_per_bucket(pairs, 0, 1 << 62, 1), default=0)
