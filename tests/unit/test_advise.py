"""Advice from hand-made fleets: memory up and down, arm64, provisioned concurrency, and the deploy
or runtime update that broke a function — and none where the data does not support it."""

from __future__ import annotations

import random

import orjson
import pytest

from pipeline.advise import AdviceAggregate, advise
from pipeline.advise.regressions import count_above, error_change, percentile_change
from pipeline.advise.thresholds import MEMORY_HEADROOM
from pipeline.cost import invocation_cost
from pipeline.model import Invocation
from pipeline.report import coldstarts
from pipeline.sketch import PercentileSketch

T0 = 1714557600000


def fleet(fn: str, n: int, *, memory: int = 512, used: tuple[int, int] = (100, 120), median: float = 100.0,
          p_error: float = 0.01, p_oom: float = 0.0, version: str = "1", runtime: str = "python:3.12.v38",
          arch: str = "x86_64", start: int = T0, every_ms: int = 1000, seed: int = 1, envs: int = 4,
          cold_every: int = 25, init_ms: float = 300.0) -> list[Invocation]:
    """``n`` invocations of one function, one every ``every_ms``, on ``envs`` environments; a cold
    start (with ``runtime``) every ``cold_every`` invocations."""
    rng = random.Random(f"{fn}:{seed}:{version}:{runtime}:{memory}")
    out = []
    for k in range(n):
        t = start + k * every_ms
        duration = round(median * rng.lognormvariate(0, 0.3), 2)
        r = rng.random()
        outcome = "error" if r < p_error else "out_of_memory" if r < p_error + p_oom else "success"
        cold = k % cold_every == 0
        init = round(init_ms * rng.uniform(0.8, 1.2), 2) if cold else None
        billed = float(int(duration + (init or 0)) + 1)
        out.append(Invocation(
            fn, f"{fn}-{version}-{seed}-{k}", log_group=f"/aws/lambda/{fn}", log_stream=f"[{version}]env{k % envs}",
            instance_id=f"{version}-{runtime}-env{k % envs}", function_version=version, start_ms=t,
            end_ms=t + int(duration), duration_ms=duration, billed_duration_ms=billed, memory_size_mb=memory,
            max_memory_used_mb=memory if outcome == "out_of_memory" else rng.randint(*used),
            init_duration_ms=init, cold_start_kind="on-demand" if cold else "none",
            runtime_version=runtime if cold else None, outcome=outcome,
            error_type="Runtime.OutOfMemory" if outcome == "out_of_memory" else None,
            estimated_cost_usd=invocation_cost(billed, memory, arch)))
    return out


def findings(*invocations_lists, as_docs: bool = False):
    agg = AdviceAggregate()
    for invs in invocations_lists:
        for i in invs:
            agg.add(i.to_doc() if as_docs else i)
    return advise(agg)


def of(found, kind, fn=None):
    return [f for f in found if f.kind == kind and (fn is None or f.function == fn)]


def test_over_provisioned_function_gets_a_lower_size_with_positive_savings():
    found = of(findings(fleet("big", 600, memory=1024, used=(90, 130), median=20.0)), "memory")
    assert len(found) == 1
    f = found[0]
    assert f.current == 1024 and f.recommended < 1024
    assert f.recommended >= 130 * (1 + MEMORY_HEADROOM)             # never below max used plus headroom
    assert f.monthly_savings_usd > 0
    assert "130 MB" in f.evidence and f.caveat is None             # 20 ms p50: no CPU-bound caveat


def test_a_cut_says_cpu_share_scales_with_memory_when_the_function_is_slow():
    [f] = of(findings(fleet("slow", 600, memory=1536, used=(90, 130), median=400.0)), "memory")
    assert f.recommended < 1536 and "CPU share scales with memory" in f.caveat


def test_function_killed_for_memory_gets_a_higher_size():
    [f] = of(findings(fleet("tight", 600, memory=128, used=(100, 127), p_oom=0.04)), "memory")
    assert f.current == 128 and f.recommended > 128
    assert f.monthly_savings_usd < 0                               # more memory costs money
    assert "killed for lack of memory" in f.evidence


def test_well_sized_function_gets_no_memory_finding():
    found = findings(fleet("snug", 600, memory=256, used=(170, 190)))
    assert of(found, "memory") == []


def test_several_measured_sizes_use_the_measured_duration_at_each():
    # raised from 512 to 1024 MB, and no faster: the measured billed time says go back to 512
    before = fleet("resized", 300, memory=512, used=(60, 80), median=200.0)
    after = fleet("resized", 300, memory=1024, used=(60, 80), median=195.0, start=T0 + 300_000)
    [f] = of(findings(before, after), "memory")
    assert (f.current, f.recommended) == (1024, 512) and f.details["measured"] is True
    assert f.monthly_savings_usd > 0 and "512 MB: 300 invocations" in f.evidence
    # CPU-bound: twice the memory halves the duration, so 1024 MB costs the same and wins on speed
    fast = fleet("cpu", 300, memory=1024, used=(60, 80), median=100.0, start=T0 + 300_000)
    assert of(findings(fleet("cpu", 300, memory=512, used=(60, 80), median=200.0), fast), "memory") == []


def test_x86_function_gets_arm64_advice_and_arm64_function_none():
    found = findings(fleet("intel", 600, memory=2048, median=300.0),
                     fleet("graviton", 600, memory=2048, median=300.0, arch="arm64"))
    [f] = of(found, "architecture")
    assert (f.function, f.current, f.recommended) == ("intel", "x86_64", "arm64")
    assert f.monthly_savings_usd > 0 and "arm64 builds" in f.caveat


def test_provisioned_concurrency_comes_from_the_cold_start_rule():
    # 4 environments take turns, one invocation every 30 ms of ~60 ms: 2 or 3 run at once
    invs = fleet("coldish", 600, memory=512, median=60.0, every_ms=30, cold_every=10, init_ms=900.0)
    [f] = of(findings(invs), "provisioned-concurrency")
    [row] = coldstarts.analyze(i.to_doc() for i in invs)["functions"]
    [text] = [a["text"] for a in row["advice"] if a["kind"] == "provisioned-concurrency"]
    # the aggregate counts environments busy in a second: never below the exact peak, at most all of them
    assert f.current == 0 and row["peak_concurrency"] <= f.recommended <= 4
    assert text.split(" (p95")[0] == f.evidence.split(" (p95")[0]     # the report's own rule and words
    assert f"provisioned concurrency of {f.recommended}" in f.evidence and f.monthly_savings_usd < 0


def test_deploy_that_quadruples_p95_and_multiplies_errors_names_both_versions():
    old = fleet("orders", 400, version="12", p_error=0.01)
    new = fleet("orders", 400, version="13", p_error=0.10, median=400.0, start=T0 + 400_000)
    [f] = of(findings(old, new), "version-regression")
    assert (f.current, f.recommended) == ("13", "12") and f.monthly_savings_usd is None
    metrics = {c["metric"]: c for c in f.details["changes"]}
    assert {"error_rate", "duration_p95_ms"} <= set(metrics)
    assert 3.0 < metrics["duration_p95_ms"]["after"] / metrics["duration_p95_ms"]["before"] < 5.5
    assert "version 13" in f.evidence and "12" in f.evidence and "2024-05-01T10:06:40.000Z" in f.evidence


def test_runtime_update_followed_by_errors_names_the_new_runtime_version():
    before = fleet("inventory", 400, version="$LATEST", runtime="nodejs:20.v33", p_error=0.01)
    after = fleet("inventory", 400, version="$LATEST", runtime="nodejs:20.v34", p_error=0.2,
                  start=T0 + 400_000)
    found = findings(before, after)
    [f] = of(found, "runtime-update")
    assert (f.current, f.recommended) == ("nodejs:20.v34", "nodejs:20.v33")
    assert "nodejs:20.v34" in f.evidence and "error rate" in f.evidence
    assert of(found, "version-regression") == []                 # same version: not a deploy


def test_steady_fleet_gets_no_regression_finding():
    # a new version and a new runtime that change nothing but their names
    found = findings(fleet("a", 400, version="1"), fleet("a", 400, version="2", start=T0 + 400_000, seed=2),
                     fleet("b", 400, runtime="python:3.12.v38"),
                     fleet("b", 400, runtime="python:3.12.v39", start=T0 + 400_000, seed=3))
    assert of(found, "version-regression") == [] and of(found, "runtime-update") == []


def test_too_few_samples_on_a_side_is_no_finding():
    old = fleet("rare", 20, version="1")
    new = fleet("rare", 20, version="2", p_error=0.5, median=800.0, start=T0 + 20_000)
    assert of(findings(old, new), "version-regression") == []


def test_statistical_rules_fail_where_they_should():
    assert error_change(1000, 10, 1000, 12) is None               # within noise
    assert error_change(1000, 10, 1000, 60).z > 3                 # 1 % -> 6 %
    assert error_change(100_000, 100, 100_000, 300) is None       # significant, but 0.1 -> 0.3 % is not material
    a, b = PercentileSketch(), PercentileSketch()
    a.add_all(range(1, 1001))
    b.add_all(range(1, 1001))
    assert count_above(a, 950.0) == pytest.approx(50, abs=5)
    assert percentile_change("duration_p95_ms", a, b, 1.5) is None
    c = PercentileSketch()
    c.add_all(v * 4 for v in range(1, 1001))
    assert percentile_change("duration_p95_ms", a, c, 1.5).after == pytest.approx(3800, rel=0.01)


def test_invocations_and_documents_build_the_same_aggregate_which_merges_and_round_trips():
    invs = fleet("x", 300, memory=1024) + fleet("y", 200, version="2", p_error=0.1)
    from_objects, from_docs = AdviceAggregate(), AdviceAggregate()
    for i in invs:
        from_objects.add(i)
        from_docs.add(i.to_doc())
    assert from_objects.to_json() == from_docs.to_json()
    left, right = AdviceAggregate(), AdviceAggregate()
    for k, i in enumerate(invs):
        (left if k % 3 else right).add(i)
    merged = AdviceAggregate().merge(right).merge(left)
    assert merged.to_json() == from_objects.to_json()
    text = orjson.dumps(merged.to_json())
    back = AdviceAggregate.from_json(orjson.loads(text))
    assert back.to_json() == merged.to_json()
    assert [f.to_json() for f in advise(back)] == [f.to_json() for f in advise(from_objects)]


def test_finding_json_has_the_documented_fields():
    found = findings(fleet("big", 600, memory=1024, used=(90, 130), median=20.0))
    for f in found:
        d = f.to_json()
        assert {"function", "kind", "current", "recommended", "monthly_savings_usd", "evidence"} <= set(d)
        assert isinstance(d["evidence"], str) and d["evidence"]
