"""The whole batch pipeline on a simulated fleet agrees exactly with the simulator's ground truth."""

from collections import Counter

import orjson
import pytest

from pipeline.summary import summarize_out
from tests.pipeline.helpers import INDEX_DEADLETTER, INDEX_INVOCATIONS, INDEX_LOGS, actions, docs, run_fleet


@pytest.fixture(scope="module")
def fleet_run(sim_fleet, tmp_path_factory):
    fleet_dir, truth = sim_fleet
    bad = tmp_path_factory.mktemp("bad") / "bad.ndjson"
    bad.write_bytes(b'not a payload\n{"awslogs": {"data": "H4sIAAAA"}}\n[1, 2]\n')
    out = run_fleet(fleet_dir, truth, tmp_path_factory.mktemp("out"), extra_inputs=[str(bad)])
    return out, truth, bad


def test_every_invocation_matches_the_truth(fleet_run):
    out, truth, _bad = fleet_run
    got = {d["faas.execution"]: d for d in docs(out, INDEX_INVOCATIONS)}
    assert len(got) == len(truth["invocations"])
    for inv in truth["invocations"]:
        d = got[inv["request_id"]]
        assert d["faas.name"] == inv["function"]
        assert d["aws.lambda.outcome"] == inv["outcome"], inv
        assert d["aws.lambda.cold_start_kind"] == inv["cold_start_kind"], inv
        assert d.get("aws.xray.trace_id") == inv["xray_trace_id"], inv
        assert d.get("labels.correlation_id") == inv["correlation_id"], inv
        assert d["aws.lambda.duration_ms"] == pytest.approx(inv["duration_ms"], abs=0.01)
        if inv["init_duration_ms"] is not None:
            assert d["aws.lambda.init_duration_ms"] == pytest.approx(inv["init_duration_ms"], abs=0.01)


def test_per_function_figures_equal_the_truth(fleet_run):
    out, truth, _bad = fleet_run
    summary = summarize_out(str(out))
    assert set(summary["functions"]) == set(truth["functions"])
    for fn, t in truth["functions"].items():
        s = summary["functions"][fn]
        for key in ("invocations", "cold_starts", "provisioned_inits", "errors", "timeouts", "out_of_memory", "crashes"):
            assert s[key] == t[key], (fn, key)
    assert sum(t["cold_starts"] for t in truth["functions"].values()) > 0
    assert summary["totals"]["unfinished"] == 0


def test_every_log_event_indexed_once_with_deterministic_ids(fleet_run):
    out, truth, _bad = fleet_run
    ids = [a["create"]["_id"] for a in actions(out, INDEX_LOGS)]
    assert len(ids) == truth["events"] == len(set(ids))
    assert truth["duplicate_payloads"] > 0  # re-delivered payloads were in the input
    kinds = Counter(d["aws.lambda.log_kind"] for d in docs(out, INDEX_LOGS))
    assert kinds["report"] == len(truth["invocations"])


def test_bad_input_is_dead_lettered_with_reasons(fleet_run):
    out, _truth, _bad = fleet_run
    dead = docs(out, INDEX_DEADLETTER)
    assert len(dead) == 3
    reasons = sorted(d["error.message"] for d in dead)
    assert any("neither JSON nor base64" in r for r in reasons)
    assert any("gzip" in r for r in reasons)
    assert any("JSON list, not a subscription payload" in r for r in reasons)
    assert {d["event.original"] for d in dead} >= {"not a payload", "[1, 2]"}


def test_a_second_run_gives_byte_identical_files(fleet_run, sim_fleet, tmp_path):
    out, truth, bad = fleet_run
    fleet_dir, _ = sim_fleet
    again = run_fleet(fleet_dir, truth, tmp_path / "again", extra_inputs=[str(bad)])
    for index in (INDEX_LOGS, INDEX_INVOCATIONS, INDEX_DEADLETTER):
        first = sorted(orjson.dumps(d) for d in docs(out, index))
        second = sorted(orjson.dumps(d) for d in docs(again, index))
        assert first == second
