"""What the throughput work changed under the aggregates must not change what they say: Beam
pickles every partial aggregate (shuffles, size estimates), so a pickled sketch or aggregate is
the same one; a sketch pickled by an older coldtrace (carried streaming state) still loads; and
the architecture read from one invocation's cost is what ``infer_architecture`` reads from its
document, ties and figures too small to tell included."""

from __future__ import annotations

import math
import pickle
import random
from array import array

import numpy as np
import pytest

from pipeline.advise import AdviceAggregate
from pipeline.advise.aggregate import _translate, _translator
from pipeline.cost import PRICE_PER_GB_S, PRICE_PER_REQUEST
from pipeline.model import Invocation
from pipeline.report.aggregates import ReportAggregate
from pipeline.report.fields import architecture_of, infer_architecture
from pipeline.report.function_figures import FunctionFigures
from pipeline.report.mergeable import array_from_json, array_to_json
from pipeline.report.series import sweep
from pipeline.sketch import PercentileSketch

T0 = 1714557600000


def _invocations(n: int = 300, seed: int = 5) -> list[Invocation]:
    rnd = random.Random(seed)
    out = []
    for k in range(n):
        fn = f"fn-{k % 7}"
        start = T0 + rnd.randrange(0, 30 * 60_000)
        dur = round(rnd.uniform(0.0, 2500), 2)  # 0.0 ms too: the sketch's zero count
        cold = rnd.random() < 0.15
        mem = rnd.choice((128, 512, 1769))
        billed = float(math.ceil(dur))
        arch = rnd.choice(("x86_64", "arm64"))
        cost = PRICE_PER_REQUEST + (mem / 1024) * (billed / 1000) * PRICE_PER_GB_S[arch]
        out.append(Invocation(
            fn, f"r{k}", log_group=f"/aws/lambda/{fn}", log_stream=f"s{k % 23}", function_version=str(k % 3),
            start_ms=start, end_ms=start + int(dur), duration_ms=dur, billed_duration_ms=billed,
            memory_size_mb=mem, max_memory_used_mb=rnd.randrange(40, 128),
            init_duration_ms=round(rnd.uniform(100, 900), 2) if cold else None,
            cold_start_kind="on-demand" if cold else "none", outcome=rnd.choice(("success",) * 6 + ("error",)),
            runtime_version="python:3.12.v38" if cold else None, estimated_cost_usd=cost))
    return out


def test_a_pickled_sketch_is_the_same_sketch_and_keeps_adding_and_merging():
    a = PercentileSketch()
    for v in (0.0, 0.5, 3.25, 3.25, 1e4, 1e-7):
        a.add(v)
    b = pickle.loads(pickle.dumps(a, protocol=pickle.HIGHEST_PROTOCOL))
    assert b == a and b.quantile(0.5) == a.quantile(0.5) and b.min == a.min and b.max == a.max
    a.add(7.0)
    b.add(7.0)
    assert b == a
    assert b.merge(pickle.loads(pickle.dumps(a))) == a.merge(PercentileSketch.from_dict(a.to_dict()))


def test_a_sketch_pickled_in_the_older_form_loads():
    a = PercentileSketch(0.01)
    for v in (0.0, 2.0, 40.0, 41.0):
        a.add(v)
    old = PercentileSketch.__new__(PercentileSketch)
    old.__setstate__(a.to_dict())  # what an older coldtrace's __getstate__ returned
    assert old == a and old.alpha == 0.01 and old.quantile(0.99) == a.quantile(0.99)
    old.add(3.0)
    assert old.count == 5


@pytest.mark.parametrize("make", [ReportAggregate, AdviceAggregate])
def test_a_pickled_partial_aggregate_merges_to_the_same_figures(make):
    invs = _invocations()

    def merged(pickled: bool):
        parts = [make(), make(), make()]
        for k, inv in enumerate(invs):
            parts[k % 3].add(inv)
        if pickled:  # as Beam's shuffle hands partial aggregates over
            parts = [pickle.loads(pickle.dumps(p, protocol=pickle.HIGHEST_PROTOCOL)) for p in parts]
        out = parts[0]
        for p in parts[1:]:
            out.merge(p)
        return _as_the_sweep_reads(out.to_json())

    assert merged(pickled=True) == merged(pickled=False)


def _as_the_sweep_reads(doc: dict) -> dict:
    """The interval columns as ``series.sweep`` reads them: each end raised to its start, each
    column sorted (a pickled partial packs them so)."""
    for f in doc.get("functions", {}).values():
        if "starts" not in f:   # the advice's aggregate: no interval columns
            continue
        s = np.frombuffer(array_from_json("q", f["starts"]), dtype=np.int64)
        e = np.maximum(np.frombuffer(array_from_json("q", f["ends"]), dtype=np.int64), s)
        f["starts"], f["ends"] = (array_to_json(array("q", np.sort(x).tobytes())) for x in (s, e))
    return doc


def test_packed_intervals_sweep_to_the_same_concurrency():
    rnd = random.Random(3)
    f = FunctionFigures()
    for _ in range(2000):
        s = T0 + rnd.randrange(0, 600_000)
        f.starts.append(s)
        f.ends.append(s + rnd.choice((rnd.randrange(0, 3000), -5)))   # an end before its start, too
    g = pickle.loads(pickle.dumps(f, protocol=pickle.HIGHEST_PROTOCOL))
    assert len(pickle.dumps(f)) < len(f.starts) * 16 // 2             # packed: under half the raw columns
    assert list(g.starts) == sorted(f.starts)
    for first, interval, n in ((0, 1, 0), (T0, 60_000, 11), (T0, 7_000, 90)):
        assert sweep(np.frombuffer(g.starts, dtype=np.int64), np.frombuffer(g.ends, dtype=np.int64), first, interval, n) \
            == sweep(np.frombuffer(f.starts, dtype=np.int64), np.frombuffer(f.ends, dtype=np.int64), first, interval, n)


def test_figures_pickled_with_raw_columns_load():
    """What an older coldtrace pickled: every slot as it was, the columns as arrays."""
    f = FunctionFigures()
    f.invocations = 2
    f.starts.extend([5, 1])
    f.ends.extend([9, 4])
    old = FunctionFigures.__new__(FunctionFigures)
    old.__setstate__((None, {name: getattr(f, name) for name in FunctionFigures.__slots__}))
    assert old.invocations == 2 and list(old.starts) == [5, 1] and list(old.ends) == [9, 4]


def _infer_architecture_as_it_was(cost, billed, mem) -> str:
    """``infer_architecture`` of one document before ``architecture_of`` (min over the prices)."""
    if cost is None or not billed or not mem:
        return "x86_64"
    gb_s = (mem / 1024.0) * (billed / 1000.0)
    if gb_s * PRICE_PER_GB_S["arm64"] < 1e-9:
        return "x86_64"
    price = (cost - PRICE_PER_REQUEST) / gb_s
    return min(PRICE_PER_GB_S, key=lambda arch: abs(PRICE_PER_GB_S[arch] - price))


def test_the_architecture_of_one_cost_is_what_the_document_says():
    midway = (PRICE_PER_GB_S["x86_64"] + PRICE_PER_GB_S["arm64"]) / 2  # a tie: the first price listed
    cases = [(None, 100.0, 512), (1e-6, 0.0, 512), (1e-6, 100.0, None), (1e-6, 1.0, 128), (math.nan, 100.0, 512),
             (1e-6, math.nan, 512), (1e-6, 100.0, math.nan), (PRICE_PER_REQUEST + 0.5 * 0.1 * midway, 100.0, 512)]
    rnd = random.Random(1)
    for _ in range(500):
        mem, billed = rnd.choice((128, 512, 3008)), float(rnd.randrange(1, 5000))
        cases.append((PRICE_PER_REQUEST + (mem / 1024) * (billed / 1000) * rnd.uniform(1e-6, 3e-5), billed, mem))
    for cost, billed, mem in cases:
        doc = {"aws.lambda.estimated_cost_usd": cost, "aws.lambda.billed_duration_ms": billed,
               "aws.lambda.memory_size_mb": mem}
        expected = _infer_architecture_as_it_was(cost, billed, mem)
        assert infer_architecture((doc,)) == expected
        assert (architecture_of(cost, billed, mem) or "x86_64") == expected  # the advice's reading
        # the report counts an architecture only where the cost tells the prices apart
        tells = bool(billed and mem) and (mem / 1024.0) * (billed / 1000.0) * PRICE_PER_GB_S["arm64"] >= 1e-9
        assert architecture_of(cost, billed, mem) == (expected if cost is not None and tells else None)


def test_busy_masks_move_to_another_numbering_as_bit_by_bit():
    rnd = random.Random(7)
    for n in (1, 3, 8, 9, 17, 70):
        orders = [list(range(n)), rnd.sample(range(n), n), [k + 5 for k in range(n)]]
        for bits in orders:
            move = _translator(bits)
            for _ in range(200):
                mask = rnd.getrandbits(n)
                assert move(mask) == _translate(mask, bits)
