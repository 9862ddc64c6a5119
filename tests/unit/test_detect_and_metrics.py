"""Detectors and window figures: cold starts, throttles (callers' logs), failures, pressure,
concurrency reconstructed from intervals, and the per-minute MetricPoint."""

from __future__ import annotations

import pickle
import random

import pytest

from pipeline.detect import WINDOW_MS, Observation, observe_invocation, observe_throttles, throttle_target
from pipeline.detect.invocation import memory_pressure, timeout_limit_ms
from pipeline.invocations import fold_stream
from pipeline.metrics import WindowFigures, peak_overlap, window_points
from pipeline.model import Invocation, LogEvent
from pipeline.parse import parse_event

T0 = 1714557600000  # 10:00:00, a minute boundary
STREAM = "2024/05/01/[$LATEST]0225597e48f74a659916f0e482df5b92"


def events(*msgs_at: tuple[int, str], fn: str = "orders") -> list[LogEvent]:
    return [LogEvent(id=f"{100000 + i}", timestamp=T0 + at, message=m, log_group=f"/aws/lambda/{fn}",
                     log_stream=STREAM, function_name=fn, function_version="$LATEST")
            for i, (at, m) in enumerate(msgs_at)]


def rid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def report(n: int, dur: float = 100.0, extra: str = "", mem: int = 128, used: int = 70) -> str:
    return (f"REPORT RequestId: {rid(n)}\tDuration: {dur} ms\tBilled Duration: {int(dur) + 1} ms\t"
            f"Memory Size: {mem} MB\tMax Memory Used: {used} MB\t{extra}\n")


def inv(n: int, start: int, dur: float, outcome: str = "success", fn: str = "orders", **kw) -> Invocation:
    return Invocation(function_name=fn, request_id=rid(n), function_version="1", start_ms=T0 + start,
                      end_ms=T0 + start + int(dur), duration_ms=dur, outcome=outcome, **kw)


# -- cold starts (decided by the fold; the four cases of the issue) ---------------------------------

def test_init_start_seen_but_first_report_lacks_init_duration_is_an_on_demand_cold_start():
    out = list(fold_stream(events(
        (0, "INIT_START Runtime Version: python:3.12.v38\tRuntime Version ARN: arn:x\n"),
        (400, f"START RequestId: {rid(1)} Version: $LATEST\n"),
        (500, report(1)),
        (900, f"START RequestId: {rid(2)} Version: $LATEST\n"),
        (950, report(2)))))
    assert [i.cold_start_kind for i in out] == ["on-demand", "none"]
    assert out[0].init_start_ms == T0 and out[0].init_duration_ms is None  # unknown stays unknown


def test_first_seen_invocation_without_init_evidence_is_not_a_cold_start():
    (only,) = fold_stream(events((0, f"START RequestId: {rid(1)} Version: $LATEST\n"), (90, report(1))))
    assert only.cold_start_kind == "none" and not only.cold_start


def test_provisioned_first_invocation_with_an_old_init_duration_is_not_user_facing():
    (only,) = fold_stream(events(
        (0, '{"time":"2024-05-01T10:00:00.000Z","type":"platform.initStart","record":'
            '{"initializationType":"provisioned-concurrency","phase":"init"}}'),
        (7_000, f"START RequestId: {rid(1)} Version: 3\n"),
        (7_100, report(1, extra="Init Duration: 250.00 ms\t"))))
    assert only.cold_start_kind == "provisioned" and not only.cold_start
    obs = observe_invocation(only)
    assert obs[0].cold_start is False and obs[0].init_ms is None


# -- throttles from callers' logs -------------------------------------------------------------------

@pytest.mark.parametrize("line, target", [
    ("[ERROR]\t2024-05-01T10:00:01.000Z\tabc\tinvoke arn:aws:lambda:eu-west-1:123456789012:function:orders-api:12 "
     "failed: TooManyRequestsException: Rate Exceeded.\n", ("orders-api", "12")),
    ('{"level":"ERROR","message":"ThrottlingException calling Invoke","FunctionName":"billing"}', ("billing", None)),
    ("[ERROR]\t2024-05-01T10:00:01.000Z\tabc\tProvisionedThroughputExceededException: table orders\n", None),
    ("2024-05-01T10:00:01.000Z\tabc\tWARN\tPOST https://api.example.com/pay status=429\n", None),
])
def test_throttle_lines_are_attributed_to_the_function_they_name(line, target):
    ev = parse_event(events((1000, line), fn="api-gateway-handler")[0])
    assert "throttle" in ev.parsed.signals
    assert throttle_target(line) == target
    (obs,) = observe_throttles([ev])
    if target:
        assert (obs.kind, obs.function_name, obs.function_version) == ("throttled", target[0], target[1] if target[1] == "12" else None)
    else:
        assert (obs.kind, obs.function_name) == ("downstream_throttle", "api-gateway-handler")
    assert obs.window_start_ms == T0


def test_lines_without_the_throttle_signal_observe_nothing():
    evs = [parse_event(e) for e in events((0, "[INFO]\t2024-05-01T10:00:00.000Z\tabc\trate limit config loaded\n"))]
    assert observe_throttles(evs) == []


# -- failures, pressure ------------------------------------------------------------------------------

def test_timeout_limit_from_the_text_line_or_the_json_duration():
    text = inv(1, 0, 3002.5, "timeout", error_message="2024-05-01T10:00:03.004Z x Task timed out after 3.00 seconds")
    assert timeout_limit_ms(text) == 3000.0
    assert timeout_limit_ms(inv(2, 0, 6001.2, "timeout")) == 6000.0
    assert timeout_limit_ms(inv(3, 0, 6001.2, "success")) is None


def test_memory_pressure_leaves_out_oom_kills():
    assert memory_pressure(inv(1, 0, 10, memory_size_mb=128, max_memory_used_mb=120)) == pytest.approx(0.9375)
    assert memory_pressure(inv(2, 0, 10, "out_of_memory", memory_size_mb=128, max_memory_used_mb=128)) is None


def test_an_invocation_spanning_minutes_counts_for_concurrency_in_each():
    obs = observe_invocation(inv(1, 50_000, 75_000.0))
    assert [(o.kind, o.window_start_ms - T0, o.start_ms - T0, o.end_ms - T0) for o in obs] == [
        ("invocation", 0, 50_000, 60_000), ("running", 60_000, 60_000, 120_000),
        ("running", 120_000, 120_000, 125_000)]


def test_peak_overlap_nets_same_millisecond_handovers():
    assert peak_overlap([], []) == 0
    assert peak_overlap([0], [10]) == 1
    # one environment ends at 10 and another starts at 10: never two at once
    assert peak_overlap([0, 10], [10, 20]) == 1
    assert peak_overlap([0, 0, 6], [5, 9, 9]) == 2
    assert peak_overlap([0, 1, 2], [100, 100, 100]) == 3


def test_figures_pickled_as_millisecond_deltas_read_the_same():
    """A checkpoint's carried window, pickled when the figures kept a dict of netted deltas."""
    rng = random.Random(9)
    intervals = [(s, s + rng.randrange(1, 400)) for s in (rng.randrange(0, 2_000) for _ in range(200))]
    deltas: dict[int, int] = {}
    for s, e in intervals:
        deltas[s] = deltas.get(s, 0) + 1
        deltas[e] = deltas.get(e, 0) - 1
    old = WindowFigures.__new__(WindowFigures)
    old.__setstate__((None, {"invocations": 200, "deltas": deltas}))
    assert old.invocations == 200
    assert old.values()["max_concurrency"] == peak_overlap(*zip(*intervals))
    level = peak = 0                                   # the old reading: a running sum by millisecond
    for ms in sorted(deltas):
        level += deltas[ms]
        peak = max(peak, level)
    assert old.values()["max_concurrency"] == peak


def test_concurrency_matches_a_brute_force_count():
    rng = random.Random(5)
    invs = [inv(i, rng.randrange(0, 59_000), rng.uniform(5, 3_000)) for i in range(300)]
    (point,) = window_points(o for i in invs for o in observe_invocation(i) if o.window_start_ms == T0)
    brute = max(sum(1 for i in invs if i.start_ms <= t < min(i.end_ms, T0 + WINDOW_MS))
                for t in {i.start_ms for i in invs})
    assert point.values["max_concurrency"] == brute


def test_window_point_figures():
    invs = [inv(1, 1_000, 100.0, cold_start_kind="on-demand", init_duration_ms=300.0, memory_size_mb=128,
                max_memory_used_mb=64, estimated_cost_usd=1e-6),
            inv(2, 2_000, 200.0, "error", memory_size_mb=128, max_memory_used_mb=96),
            inv(3, 3_000, 3001.0, "timeout", error_message="x Task timed out after 3.00 seconds"),
            inv(4, 4_000, 50.0, "out_of_memory", memory_size_mb=128, max_memory_used_mb=128),
            inv(5, 70_000, 80.0, "crash")]
    throttles = [Observation("orders", T0, kind="throttled", function_version="1"),
                 Observation("orders", T0, kind="downstream_throttle", function_version="1")]
    points = window_points([o for i in invs for o in observe_invocation(i)] + throttles)
    assert [(p.function_name, p.function_version, p.window_start_ms - T0, p.source) for p in points] == [
        ("orders", "1", 0, "logs"), ("orders", "1", 60_000, "logs")]
    v = points[0].values
    assert (v["invocations"], v["errors"], v["timeouts"], v["out_of_memory"], v["crashes"]) == (4, 3, 1, 1, 0)
    assert (v["error_rate"], v["cold_starts"], v["cold_start_rate"]) == (0.75, 1, 0.25)
    assert (v["throttles"], v["downstream_throttles"]) == (1, 1)
    assert v["duration_max_ms"] == 3001.0 and v["init_p50_ms"] == pytest.approx(300, rel=0.005)
    assert v["completed_duration_p99_ms"] == pytest.approx(200, rel=0.005)  # timeout and OOM left out
    assert v["max_memory_utilization"] == 0.75 and v["timeout_limit_ms"] == 3000.0
    assert v["estimated_cost_usd"] == 1e-6 and v["max_concurrency"] == 2  # the timeout overlaps the OOM
    assert points[1].values["crashes"] == 1 and points[1].values["cold_start_rate"] == 0.0


def test_figures_merge_in_any_split_and_survive_pickling():
    rng = random.Random(9)
    invs = [inv(i, rng.randrange(0, 59_000), rng.uniform(1, 900), rng.choice(["success", "error", "timeout"]),
                memory_size_mb=256, max_memory_used_mb=rng.randrange(50, 250), estimated_cost_usd=1e-7)
            for i in range(500)]
    obs = [o for i in invs for o in observe_invocation(i) if o.window_start_ms == T0]
    whole = WindowFigures().add_all(obs)
    parts = [WindowFigures().add_all(obs[k::3]) for k in range(3)]
    merged = pickle.loads(pickle.dumps(parts[2])).merge(parts[0]).merge(pickle.loads(pickle.dumps(parts[1])))
    a, b = whole.values(), merged.values()
    assert a.pop("estimated_cost_usd") == pytest.approx(b.pop("estimated_cost_usd"))
    assert a == b
