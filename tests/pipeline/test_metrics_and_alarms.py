"""Detection, window metrics and alarms on simulated fleets, through the batch pipeline.

A fleet with four injected incidents (an error burst, a throttling storm seen through callers'
logs and CloudWatch's Throttles, a timeout regression, a Kinesis consumer falling behind) must
raise exactly the alarms its ground truth lists, at the minute it lists, and clear them; steady
fleets raise none. The Beam run is held against the pure computation, and DaskRunner against
FnApiRunner.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from pipeline.local_index import doc_id_of, index_path, read_index
from pipeline.model import INDEX_ALARMS, INDEX_METRICS, iso_ms
from pipeline.rules import FunctionSettings, default_rules, evaluate_points
from pipeline.sources.incidents import Incident
from pipeline.sources.metric_files import read_metric_records
from pipeline.sources.simulate import FleetConfig, write_fleet
from pipeline.transforms.metrics_and_alarms import AlarmConfig
from tests.pipeline.helpers import docs, run_fleet
from tests.unit.fleet_points import fleet_points

INCIDENTS = (
    Incident("error_burst", "api-gateway-handler", 3, 8),
    Incident("consumer_lag", "notifications", 4, 8),
    Incident("throttle_storm", "orders-api", 10, 13),
    Incident("timeout_regression", "payments", 16, 20),
)
FLEET = FleetConfig(seed=7, functions=4, minutes=24, invocations_per_minute=20, files=2, incidents=INCIDENTS)


def rules_for(truth: dict):
    """The built-in rules with what the fleet's configuration says: timeouts, reserved concurrency."""
    reserved = truth.get("settings", {})
    return default_rules().with_functions({
        fn: FunctionSettings(timeout_s=f["timeout_s"], reserved_concurrency=reserved.get(fn, {}).get("reserved_concurrency"))
        for fn, f in truth["functions"].items()})


def pure_alarms(fleet_dir: Path, truth: dict, extra_points=()):
    points = fleet_points(fleet_dir, truth) + list(extra_points)
    by_function = defaultdict(list)
    for p in points:
        by_function[p.function_name].append(p)
    horizon = max(p.window_end_ms for p in points)
    rules = rules_for(truth)
    return points, [a for fn, ps in sorted(by_function.items()) for a in evaluate_points(fn, ps, rules, horizon)]


def transitions_of(alarm_docs) -> list[tuple[str, str, str, str]]:
    return sorted((d["event.start"], d["faas.name"], d["rule.name"], d["coldtrace.alarm.state"]) for d in alarm_docs)


def expected(truth: dict) -> list[tuple[str, str, str, str]]:
    return sorted((iso_ms(e["window_start_ms"]), e["function"], e["rule"], e["state"]) for e in truth["expected_alarms"])


@pytest.fixture(scope="module")
def incident_fleet(tmp_path_factory):
    out = tmp_path_factory.mktemp("incidents")
    return out, write_fleet(out, FLEET)


@pytest.fixture(scope="module")
def incident_run(incident_fleet, tmp_path_factory):
    fleet_dir, truth = incident_fleet
    alarms = AlarmConfig(rules=rules_for(truth), metrics_inputs=[str(fleet_dir / truth["cloudwatch_metrics"])])
    return run_fleet(fleet_dir, truth, tmp_path_factory.mktemp("run"), alarms=alarms)


def test_the_truth_expects_every_incident_to_fire_inside_it_and_clear_after(incident_fleet):
    _, truth = incident_fleet
    rules = {r.name: r for r in default_rules().rules}
    by_incident = {(i["function"], i["kind"]): i for i in truth["incidents"]}
    fired = defaultdict(list)
    for e in truth["expected_alarms"]:
        fired[(e["function"], e["rule"])].append((e["state"], e["window_start_ms"]))
    for (function, kind), inc in by_incident.items():
        for rule_name in {"error_burst": ["error-rate"], "throttle_storm": ["throttles", "concurrency"],
                          "timeout_regression": ["timeout-rate", "error-rate", "duration-pressure"],
                          "consumer_lag": ["iterator-age"]}[kind]:
            (state, fire), (cleared, clear) = fired[(function, rule_name)]
            rule = rules[rule_name]
            assert (state, cleared) == ("ALARM", "OK")
            # fires within the first M minutes of the incident, clears within N minutes of its end
            assert inc["start_ms"] <= fire < inc["start_ms"] + rule.datapoints_to_alarm * 60_000 + 60_000
            assert inc["end_ms"] <= clear <= inc["end_ms"] + (rule.evaluation_periods + 2) * 60_000
    assert len(truth["expected_alarms"]) == 14


def test_incidents_raise_exactly_the_expected_alarms_at_the_expected_minutes(incident_fleet, incident_run):
    _, truth = incident_fleet
    got = docs(incident_run, INDEX_ALARMS)
    assert transitions_of(got) == expected(truth)
    throttled = next(d for d in got if d["rule.name"] == "throttles" and d["coldtrace.alarm.state"] == "ALARM")
    assert throttled["faas.name"] == "orders-api" and throttled["coldtrace.alarm.severity"] == "critical"
    assert throttled["message"].startswith("orders-api: ") and "throttled invocations in 1 min" in throttled["message"]
    timeouts = next(d for d in got if d["rule.name"] == "timeout-rate" and d["coldtrace.alarm.state"] == "ALARM")
    assert "invocations timed out in 1 min" in timeouts["message"] and "2 of the last 3 minutes" in timeouts["message"]


def test_throttles_come_from_callers_logs_and_from_the_cloudwatch_feed(incident_fleet, incident_run):
    fleet_dir, truth = incident_fleet
    points = docs(incident_run, INDEX_METRICS)
    figures = truth["incident_figures"]["orders-api"]
    from_logs = {d["@timestamp"]: d.get("aws.lambda.metrics.throttles", 0) for d in points
                 if d["faas.name"] == "orders-api" and d["coldtrace.metrics.source"] == "logs"}
    from_feed = {d["@timestamp"]: d["aws.lambda.metrics.throttles"] for d in points
                 if d["faas.name"] == "orders-api" and d["coldtrace.metrics.source"] == "cloudwatch"}
    for minute, fig in enumerate(figures):
        at = iso_ms(FLEET.start_ms + minute * 60_000)
        assert from_feed[at] == fig["throttles"]
        assert from_logs.get(at, 0) == fig["throttles"]  # every rejected call was logged by its caller
    assert sum(f["throttles"] for f in figures) == truth["functions"]["orders-api"]["throttled"] > 100
    peak = max(d.get("aws.lambda.metrics.max_concurrency", 0) for d in points
               if d["faas.name"] == "orders-api" and d["coldtrace.metrics.source"] == "logs")
    assert peak == max(f["max_concurrency"] for f in figures) == truth["settings"]["orders-api"]["reserved_concurrency"]


def test_beam_metrics_and_alarms_equal_the_pure_computation(incident_fleet, incident_run):
    fleet_dir, truth = incident_fleet
    with open(fleet_dir / truth["cloudwatch_metrics"], "rb") as fh:
        feed = list(read_metric_records(fh, "feed"))
    points, alarms = pure_alarms(fleet_dir, truth, feed)
    assert sorted((p.doc_id(), str(sorted(p.to_doc().items()))) for p in points) == sorted(
        (d_id, str(sorted(d.items()))) for d_id, d in _docs_with_ids(incident_run, INDEX_METRICS))
    assert transitions_of(a.to_doc() for a in alarms) == transitions_of(docs(incident_run, INDEX_ALARMS))


def _docs_with_ids(out: Path, index: str):
    return [(doc_id_of(action), doc) for action, doc in read_index(index_path(str(out), index))]


@pytest.mark.parametrize("seed", [3, 7, 11])
def test_a_steady_fleet_raises_no_alarm(tmp_path, seed):
    cfg = FleetConfig(seed=seed, functions=8, minutes=20, invocations_per_minute=30, files=2, changes=())
    truth = write_fleet(tmp_path, cfg)
    points, alarms = pure_alarms(tmp_path, truth)
    assert len(points) > 100 and sum(p.values["invocations"] for p in points) == len(truth["invocations"])
    assert alarms == []


def test_the_default_fleet_raises_only_its_oom_prone_function_and_its_regressions(tmp_path):
    """What ``coldtrace run`` shows: image-resize is OOM-killed about 2 % of the time, and the deploy
    and the runtime update that raise their function's errors (sources/simulate/changes.py) raise its
    error rate after the change; nothing else in the default fleet deserves an alarm."""
    truth = write_fleet(tmp_path, FleetConfig())
    _, alarms = pure_alarms(tmp_path, truth)
    regressed = {fn: f["changes"][0]["at_ms"] for fn, f in truth["functions"].items()
                 if f.get("changes") and f["changes"][0]["kind"] in ("deploy", "runtime-update")}
    assert sorted(regressed) == ["inventory", "search"]
    assert sorted((a.function_name, a.rule, a.state) for a in alarms) == [
        ("image-resize", "out-of-memory", "ALARM"), ("inventory", "error-rate", "ALARM"),
        ("search", "error-rate", "ALARM")]
    assert all(a.time_ms >= regressed[a.function_name] // 60_000 * 60_000 for a in alarms if a.rule == "error-rate")
    assert truth["functions"]["image-resize"]["out_of_memory"] / truth["functions"]["image-resize"]["invocations"] > 0.015


def test_dask_runner_writes_the_same_metrics_and_alarms(incident_fleet, incident_run, tmp_path):
    distributed = pytest.importorskip("distributed")
    fleet_dir, truth = incident_fleet
    alarms = AlarmConfig(rules=rules_for(truth), metrics_inputs=[str(fleet_dir / truth["cloudwatch_metrics"])])
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                                       silence_logs=40)
    try:
        out = run_fleet(fleet_dir, truth, tmp_path / "dask", alarms=alarms, runner="dask",
                        dask_address=cluster.scheduler_address)
    finally:
        cluster.close()
    for index in (INDEX_METRICS, INDEX_ALARMS):
        a = sorted((incident_run / "indices" / f"{index}.ndjson").read_bytes().splitlines())
        b = sorted((out / "indices" / f"{index}.ndjson").read_bytes().splitlines())
        assert a == b and a, index
