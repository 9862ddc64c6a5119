"""The synthetic fleet, held against independent readings of its own log lines.

Everything here decodes with the stdlib (base64, gzip, json) and re-derives the facts with regexes and
a small fold written for the test, so the truth file is checked, not trusted.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import gzip
import json
import math
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from pipeline.parse import parse_message
from pipeline.sources.simulate import (
    FleetConfig,
    config_for_events,
    encode_payload,
    simulate,
    write_fleet,
)

# seed 12: with .NET and Ruby among the first twelve functions, seed 11's fleet happened to draw
# no disguised out-of-memory (7 OOMs, each disguised with p = 0.3); the tests need every shape
FLEET = FleetConfig(seed=12, functions=12, minutes=6, invocations_per_minute=30, files=3,
                    duplicate_payload_rate=0.01, control_messages=3)
SMALL = FleetConfig(seed=3, functions=6, minutes=2, invocations_per_minute=20, files=2)

STREAM = re.compile(r"^\d{4}/\d{2}/\d{2}/\[(\$LATEST|\d+)\][0-9a-f]{32}$")
START = re.compile(r"^START RequestId: (\S+) Version: (\S+)\n$")
TIMED_OUT = re.compile(r"^\S+ (\S+) Task timed out after (\d+\.\d\d) seconds\n\n$")
EXITED = re.compile(r"^RequestId: (\S+) Error: Runtime exited with error: (.+)\n(Runtime\.\w+)\n$")
UNCAUGHT = re.compile(r"^\[ERROR\] \S|\tERROR\tInvoke Error \t|^\{\"errorMessage\"")
THROTTLE = re.compile(r"TooManyRequestsException|ThrottlingException|ProvisionedThroughputExceededException")


def decode_line(line: bytes) -> dict:
    wrapper = json.loads(line)
    assert list(wrapper) == ["awslogs"] and list(wrapper["awslogs"]) == ["data"]
    return json.loads(gzip.decompress(base64.b64decode(wrapper["awslogs"]["data"])))


def read_fleet(out: Path) -> list[tuple[str, dict]]:
    """(file name, payload) for every line, in file order."""
    return [(path.name, decode_line(line))
            for path in sorted(out.glob("payloads-*.ndjson")) for line in path.read_bytes().splitlines()]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    out = tmp_path_factory.mktemp("fleet")
    truth = write_fleet(out, FLEET)
    return out, truth, read_fleet(out)


@pytest.fixture(scope="module")
def streams(fleet):
    """Unique events per (log group, log stream), in delivery order."""
    _, _, lines = fleet
    seen, by_stream = set(), collections.defaultdict(list)
    for _, payload in lines:
        if payload["messageType"] != "DATA_MESSAGE":
            continue
        for event in payload["logEvents"]:
            if event["id"] not in seen:
                seen.add(event["id"])
                by_stream[(payload["logGroup"], payload["logStream"])].append(event)
    return by_stream


@pytest.fixture(scope="module")
def invocations(fleet):
    return {inv["request_id"]: inv for inv in fleet[1]["invocations"]}


def function_of(group: str) -> str:
    return group.removeprefix("/aws/lambda/")


# --- files, shapes, determinism -------------------------------------------------------------------

def test_same_seed_writes_identical_files_and_another_seed_does_not(tmp_path):
    first = write_fleet(tmp_path / "a", SMALL)
    second = write_fleet(tmp_path / "b", SMALL)
    third = write_fleet(tmp_path / "c", FleetConfig(**{**_asdict(SMALL), "seed": 4}))
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["ground_truth.json", "payloads-00000.ndjson", "payloads-00001.ndjson"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert first == second
    shard = "payloads-00000.ndjson"
    assert (tmp_path / "a" / shard).read_bytes() != (tmp_path / "c" / shard).read_bytes()
    assert third["events"] != first["events"] or third["invocations"] != first["invocations"]


def _asdict(config: FleetConfig) -> dict:
    """The config as the truth records it (a steady fleet's truth has no ``incidents`` key)."""
    return {name: getattr(config, name) for name in config.__dataclass_fields__
            if name != "incidents" or config.incidents}


def test_ground_truth_file_is_the_returned_truth(fleet):
    out, truth, _ = fleet
    assert json.loads((out / "ground_truth.json").read_text()) == truth
    assert set(truth) == {"config", "events", "payloads", "control_messages", "duplicate_payloads",
                          "functions", "invocations", "traces"}
    # the mid-run changes (simulate/changes.py) as JSON holds them: a list of dicts
    assert truth["config"] == {**_asdict(FLEET), "changes": [dataclasses.asdict(c) for c in FLEET.changes]}


def test_simulate_returns_the_payloads_that_write_fleet_writes(fleet):
    _, truth, lines = fleet
    payloads, same_truth = simulate(FLEET)
    assert same_truth == truth
    key = lambda p: json.dumps(p, sort_keys=True)  # noqa: E731
    assert sorted(map(key, payloads)) == sorted(key(p) for _, p in lines)


def test_encode_payload_round_trips():
    payload = {"messageType": "DATA_MESSAGE", "logEvents": [{"id": "1", "timestamp": 2, "message": "ü 🚀\n"}]}
    assert json.loads(gzip.decompress(base64.b64decode(encode_payload(payload)))) == payload


def test_every_payload_has_the_subscription_shape(fleet):
    _, truth, lines = fleet
    assert len(lines) == truth["payloads"]
    controls = 0
    for _, p in lines:
        if p["messageType"] == "CONTROL_MESSAGE":
            controls += 1
            assert p == {"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "",
                         "logStream": "", "subscriptionFilters": [], "logEvents": [p["logEvents"][0]]}
            assert p["logEvents"][0]["id"] == ""
            assert p["logEvents"][0]["message"].startswith("CWL CONTROL MESSAGE: Checking health")
            continue
        assert list(p) == ["messageType", "owner", "logGroup", "logStream", "subscriptionFilters", "logEvents"]
        assert p["messageType"] == "DATA_MESSAGE" and p["owner"] == FLEET.account
        assert p["subscriptionFilters"] == ["coldtrace"]
        fn = function_of(p["logGroup"])
        assert fn in truth["functions"]
        version = STREAM.match(p["logStream"]).group(1)
        deployed = [c["to"] for c in truth["functions"][fn].get("changes", ()) if c["kind"] == "deploy"]
        assert version in [truth["functions"][fn]["version"], *deployed]   # a deploy mid-run (changes.py)
        assert 1 <= len(p["logEvents"]) <= 300
        stamps = [e["timestamp"] for e in p["logEvents"]]
        assert stamps == sorted(stamps), "events are in time order within a payload"
        for e in p["logEvents"]:
            assert list(e) == ["id", "timestamp", "message"]
            assert re.fullmatch(r"\d{56}", e["id"]) and isinstance(e["timestamp"], int)
            assert isinstance(e["message"], str) and e["message"]
    assert controls == truth["control_messages"] == FLEET.control_messages


def test_a_log_stream_belongs_to_one_group_and_one_file(fleet):
    _, _, lines = fleet
    homes = collections.defaultdict(set)
    for name, p in lines:
        if p["logStream"]:
            homes[p["logStream"]].add((p["logGroup"], name))
    assert homes and all(len(h) == 1 for h in homes.values())


def test_ids_are_unique_except_in_redelivered_payloads(fleet):
    _, truth, lines = fleet
    first_seen: dict[str, dict] = {}
    duplicates = 0
    for _, p in lines:
        if p["messageType"] != "DATA_MESSAGE":
            continue
        ids = [e["id"] for e in p["logEvents"]]
        if ids[0] in first_seen:
            assert first_seen[ids[0]] == p, "a redelivery repeats the whole payload"
            duplicates += 1
        else:
            assert not any(i in first_seen for i in ids)
            first_seen.update((i, p) for i in ids)
    assert duplicates == truth["duplicate_payloads"] >= 1
    assert len(first_seen) == truth["events"]


# --- the truth against the lines ------------------------------------------------------------------

def test_function_counts_agree_with_regex_counts(fleet, streams):
    _, truth, _ = fleet
    counts = collections.defaultdict(collections.Counter)
    for (group, stream), events in streams.items():
        c = counts[function_of(group)]
        c["instances"] += 1
        for e in events:
            m = e["message"]
            c["throttle_lines"] += bool(THROTTLE.search(m))
            if m.startswith("{\"time\""):
                rec = json.loads(m)
                c[rec["type"]] += 1
                if rec["type"] == "platform.initStart":
                    c[rec["record"]["initializationType"]] += 1
            else:
                c["START"] += bool(START.match(m))
                c["INIT_START"] += m.startswith("INIT_START Runtime Version: ")
                c["RESTORE_START"] += m.startswith("RESTORE_START Runtime Version: ")
    for fn, stats in truth["functions"].items():
        c = counts[fn]
        assert stats["invocations"] == c["START"] + c["platform.start"] > 0
        assert stats["instances"] == c["instances"]
        assert stats["snapstart_restores"] == c["RESTORE_START"] + c["platform.restoreStart"]
        on_demand = stats["cold_starts"] - stats["snapstart_restores"]
        assert on_demand + stats["provisioned_inits"] == c["INIT_START"] + c["platform.initStart"]
        if stats["log_format"] == "json":
            assert c["provisioned-concurrency"] == stats["provisioned_inits"]
            assert c["on-demand"] == on_demand
        assert stats["throttle_lines"] == c["throttle_lines"]
    total = collections.Counter()
    for stats in truth["functions"].values():
        total.update({k: v for k, v in stats.items() if isinstance(v, int)})
    assert total["invocations"] == len(truth["invocations"])
    for key in ("provisioned_inits", "snapstart_restores", "errors", "timeouts", "out_of_memory",
                "crashes", "throttle_lines"):
        assert total[key] > 0, f"the test fleet exercises {key}"
    assert total["errors"] < 0.05 * total["invocations"]


def _report_fields(message: str) -> dict[str, str]:
    first = message.split("\n", 1)[0]
    return dict(part.split(": ", 1) for part in first.split("\t")[1:] if part)


def _ms(value: str) -> Decimal:
    return Decimal(value.removesuffix(" ms"))


def _fold(truth: dict, streams) -> dict[str, dict]:
    """Rebuild every invocation from its stream: outcome, cold start kind, init, billing checks.

    A text INIT_START does not say it is provisioned; the simulator's design does: a function
    with provisioned concurrency gets traffic only after min(3 min, 40 % of the window), and
    its provisioned environments are initialised before that (not the pipeline's own gap rule)."""
    found: dict[str, dict] = {}
    config = truth["config"]
    traffic_from = config["start_ms"] + min(180_000, int(config["minutes"] * 60_000 * 0.4))
    for (group, stream), events in streams.items():
        spec = truth["functions"][function_of(group)]
        pending, current, init_reported = None, None, None
        for e in events:
            m, ts = e["message"], e["timestamp"]
            rec = json.loads(m) if spec["log_format"] == "json" else None
            kind = rec.get("type", "app") if rec else None
            if m.startswith("INIT_START") or kind == "platform.initStart":
                pending = ("init", ts, rec and rec["record"]["initializationType"])
                init_reported = None
            elif kind == "platform.initReport":
                init_reported = Decimal(str(rec["record"]["metrics"]["durationMs"]))
            elif m.startswith("RESTORE_START") or kind == "platform.restoreStart":
                pending = ("restore", ts, None)
            elif START.match(m) or kind == "platform.start":
                assert current is None, "one invocation at a time per environment"
                rid = START.match(m).group(1) if rec is None else rec["record"]["requestId"]
                cold = "none"
                if pending and pending[0] == "restore":
                    cold = "snapstart"
                elif pending and pending[2]:
                    cold = {"on-demand": "on-demand", "provisioned-concurrency": "provisioned"}[pending[2]]
                elif pending:
                    cold = ("provisioned" if spec["provisioned_inits"] and pending[1] < traffic_from
                            else "on-demand")
                current = {"rid": rid, "start": ts, "cold": cold, "uncaught": False,
                           "init_reported": init_reported if pending and pending[0] == "init" else None}
                pending = None
            elif current and (UNCAUGHT.search(m) or (kind == "app" and rec.get("level") == "ERROR"
                                                     and isinstance(rec.get("message"), dict))):
                current["uncaught"] = True
            elif m.startswith("REPORT") or kind == "platform.report":
                if rec is None:
                    f = _report_fields(m)
                    rid = m.split("\t", 1)[0].removeprefix("REPORT RequestId: ")
                    duration, billed = _ms(f["Duration"]), int(f["Billed Duration"].removesuffix(" ms"))
                    memory, used = f["Memory Size"], f["Max Memory Used"]
                    init = _ms(f["Init Duration"]) if "Init Duration" in f else None
                    billed_restore = int(f["Billed Restore Duration"].removesuffix(" ms")) \
                        if "Billed Restore Duration" in f else None
                    status, error_type = f.get("Status"), f.get("Error Type")
                    assert m.endswith("\t\n") or "\tStatus: " in m.split("\n")[0] or "\nXRAY TraceId: " in m
                else:
                    r = rec["record"]
                    rid, metrics = r["requestId"], r["metrics"]
                    # Lambda Managed Instances: durationMs alone; the init is in platform.initReport
                    duration, billed = Decimal(str(metrics["durationMs"])), metrics.get("billedDurationMs")
                    memory, used = metrics.get("memorySizeMB"), metrics.get("maxMemoryUsedMB")
                    init = Decimal(str(metrics["initDurationMs"])) if "initDurationMs" in metrics else None
                    if billed is None:
                        assert set(metrics) == {"durationMs"}, metrics
                        init = current["init_reported"] if current else None
                    billed_restore = metrics.get("billedRestoreDurationMs")
                    status = None if r["status"] == "success" else r["status"]
                    error_type = r.get("errorType")
                assert current and current["rid"] == rid
                if error_type == "Runtime.OutOfMemory" or (status == "timeout" and used is not None and used == memory):
                    outcome = "out_of_memory"
                elif error_type == "Runtime.ExitError":
                    outcome = "crash"
                elif status == "timeout":
                    outcome = "timeout"
                elif current["uncaught"] or status == "error":  # (an extension's LaunchError)
                    outcome = "error"
                else:
                    outcome = "success"
                extra = {"on-demand": init, "snapstart": billed_restore}.get(current["cold"]) or 0
                timeout_ms = Decimal(spec["timeout_s"] * 1000)
                if billed is None:
                    pass  # Managed Instances bill the instance, not the invocation
                elif status == "timeout":
                    assert billed == math.ceil(timeout_ms + extra) < math.ceil(duration + extra)
                else:
                    assert billed == math.ceil(duration + extra)
                if current["cold"] == "none" and init is not None:
                    assert init == 0, "a warm REPORT only ever carries Init Duration: 0.00 ms"
                    current["warm_zero"] = True
                    init = None
                found[rid] = {"outcome": outcome, "cold_start_kind": current["cold"], "start_ms": current["start"],
                              "init_duration_ms": None if init is None else float(init),
                              "warm_zero_init": current.get("warm_zero", False),
                              "log_stream": stream, "function": function_of(group)}
                current = None
        assert current is None, "every invocation ends with a REPORT"
    return found


def test_an_independent_fold_finds_every_invocation_as_the_truth_says(fleet, streams, invocations):
    found = _fold(fleet[1], streams)
    assert found.keys() == invocations.keys()
    warm_zero = 0
    for rid, got in found.items():
        want = invocations[rid]
        warm_zero += got.pop("warm_zero_init")
        assert got == {k: want[k] for k in got}, rid
    kinds = collections.Counter(i["cold_start_kind"] for i in invocations.values())
    outcomes = collections.Counter(i["outcome"] for i in invocations.values())
    assert set(kinds) == {"none", "on-demand", "snapstart", "provisioned"}
    assert set(outcomes) == {"success", "error", "timeout", "out_of_memory", "crash"}
    assert warm_zero, "a warm REPORT with Init Duration: 0.00 ms is in the fleet (and is no cold start)"


def test_oom_appears_both_explicit_and_disguised_as_a_timeout(streams):
    explicit = disguised = 0
    for events in streams.values():
        for e in events:
            m = e["message"]
            if m.startswith("REPORT"):
                f = _report_fields(m)
                explicit += f.get("Error Type") == "Runtime.OutOfMemory"
                disguised += f.get("Status") == "timeout" and f["Memory Size"] == f["Max Memory Used"]
            elif m.startswith('{"time"') and '"platform.report"' in m:
                r = json.loads(m)["record"]
                explicit += r.get("errorType") == "Runtime.OutOfMemory"
                metrics = r["metrics"]
                disguised += (r["status"] == "timeout" and "memorySizeMB" in metrics
                              and metrics["memorySizeMB"] == metrics["maxMemoryUsedMB"])
    assert explicit and disguised


def test_environments_run_one_invocation_at_a_time_and_retire_after_a_kill(fleet, invocations):
    by_stream = collections.defaultdict(list)
    for inv in invocations.values():
        by_stream[inv["log_stream"]].append(inv)
    for runs in by_stream.values():
        runs.sort(key=lambda i: i["start_ms"])
        for before, after in zip(runs, runs[1:]):
            assert after["start_ms"] >= before["start_ms"] + int(before["duration_ms"])
            assert before["outcome"] not in ("out_of_memory", "crash"), "a killed environment is retired"
        assert all(i["cold_start_kind"] == "none" for i in runs[1:])


def test_text_lines_end_with_a_newline_and_json_lines_are_json(fleet, streams):
    formats = {fn: s["log_format"] for fn, s in fleet[1]["functions"].items()}
    long_lines = unicode = tracebacks = 0
    for (group, _), events in streams.items():
        for e in events:
            m = e["message"]
            if formats[function_of(group)] == "text":
                assert m.endswith("\n")
            else:
                assert isinstance(json.loads(m), dict)
            long_lines += len(m) >= 10_000
            unicode += not m.isascii()
            if m.startswith("[ERROR] ") and "\nTraceback (most recent call last):\n" in m:
                tracebacks += 1
    assert long_lines and unicode and tracebacks


# --- traces ---------------------------------------------------------------------------------------

def test_traces_link_members_by_correlation_id_and_xray(fleet, streams, invocations):
    powertools = {}
    for events in streams.values():
        for e in events:
            if '"function_request_id"' in e["message"]:
                rec = json.loads(e["message"])
                powertools[rec["function_request_id"]] = rec
    hops = collections.Counter()
    for trace in fleet[1]["traces"]:
        members = trace["members"]
        assert members[0]["parent_request_id"] is None
        xrays = []
        for member in members:
            inv = invocations[member["request_id"]]
            assert inv["function"] == member["function"]
            assert inv["correlation_id"] == trace["correlation_id"]
            assert inv["parent_request_id"] == member["parent_request_id"]
            line = powertools[member["request_id"]]
            assert line["correlation_id"] == trace["correlation_id"]
            assert line["xray_trace_id"] == inv["xray_trace_id"]
            assert line.get("parent_request_id") == member["parent_request_id"]
            if inv["xray_trace_id"] not in xrays:
                xrays.append(inv["xray_trace_id"])
            parent = member["parent_request_id"]
            if parent:
                hops["sync"] += 1
                assert invocations[parent]["xray_trace_id"] == inv["xray_trace_id"]
                assert inv["start_ms"] > invocations[parent]["start_ms"]
            elif member is not members[0]:
                hops["sqs"] += 1
                assert inv["xray_trace_id"] not in xrays[:-1], "an SQS hop starts a new X-Ray trace"
        assert trace["xray_trace_ids"] == xrays
        assert all(re.fullmatch(r"1-[0-9a-f]{8}-[0-9a-f]{24}", x) for x in xrays)
    assert hops["sync"] and hops["sqs"]
    assert max(len(t["members"]) for t in fleet[1]["traces"]) >= 4


# --- sizing and hygiene ---------------------------------------------------------------------------

@pytest.mark.parametrize("n_events", [500, 5_000, 40_000])
def test_config_for_events_lands_within_15_percent(n_events):
    config = config_for_events(n_events, seed=5, files=2)
    assert config.files == 2 and config.seed == 5
    _, truth = simulate(config)
    assert abs(truth["events"] - n_events) <= 0.15 * n_events


def test_config_for_a_million_events_is_planned_without_running_it():
    config = config_for_events(1_000_000)
    assert config.functions >= 12 and config.files == 8
    assert 0.5e6 < config.functions * config.minutes * config.invocations_per_minute * 8 < 2e6


def test_invocations_can_be_left_out_of_the_truth():
    _, truth = simulate(FleetConfig(**{**_asdict(SMALL), "include_invocations": False}))
    assert "invocations" not in truth and truth["events"] > 0 and truth["traces"]


def test_the_module_does_not_import_beam():
    code = "import sys, pipeline.sources.simulate; assert 'apache_beam' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


# --- the real shapes (tests/data/real-lines.jsonl) in the default fleet ------------------------------

def test_the_default_fleet_writes_every_real_shape(tmp_path):
    """Each shape the real-lines corpus holds and the pipeline must read, at least once in the
    default fleet (so every run and benchmark exercises it); counted through the parser."""
    truth = write_fleet(tmp_path, FleetConfig())
    runtime_of = {name: f["runtime"] for name, f in truth["functions"].items()}
    seen_ids: set[str] = set()
    shapes: collections.Counter = collections.Counter()
    timeout_lines: set[str] = set()
    timeout_reports: set[str] = set()
    for _, payload in read_fleet(tmp_path):
        if payload["messageType"] != "DATA_MESSAGE":
            continue
        runtime = runtime_of[function_of(payload["logGroup"])]
        for event in payload["logEvents"]:
            if event["id"] in seen_ids:
                continue
            seen_ids.add(event["id"])
            m = event["message"]
            p = parse_message(m)
            rec = p.platform
            if p.kind == "log" and p.level and not m.startswith("{"):
                shapes[f"{runtime} text line with its level"] += 1
            if m.startswith('{"time"'):
                shapes["JSON log format platform record"] += 1
            if p.kind == "init_start" and rec.instance_id and rec.instance_max_memory:
                shapes["platform.initStart with instanceId and instanceMaxMemory"] += 1
            if p.kind == "init_start" and rec.initialization_type == "provisioned-concurrency":
                shapes["provisioned concurrency"] += 1
            if p.kind == "start" and rec.function_arn:
                shapes["platform.start with functionArn"] += 1
            if m.startswith("RESTORE_START"):
                shapes["SnapStart RESTORE_START"] += 1
            if m.startswith("RESTORE_REPORT") and rec.restore_duration_ms:
                shapes["SnapStart RESTORE_REPORT"] += 1
            if p.kind == "report" and rec.duration_ms is not None and rec.billed_duration_ms is None:
                shapes["Managed Instances report (duration only)"] += 1
            if p.kind == "report" and rec.init_duration_ms and rec.billed_duration_ms > rec.duration_ms + 1:
                shapes["billed > duration on a cold start (init billed)"] += 1
            if p.kind == "extension" and rec.extension_state == "Ready":
                shapes["extension Ready"] += 1
            if p.kind == "extension" and rec.extension_state == "LaunchError" and rec.error_type:
                shapes["extension LaunchError with Error Type"] += 1
            if p.kind == "log" and p.fields and "function_request_id" in p.fields and "cold_start" in p.fields:
                shapes["Powertools logger record"] += 1
            if m.startswith("LAMBDA_WARNING") and p.level == "WARN":
                shapes["LAMBDA_WARNING"] += 1
            if m.startswith("Unknown application error") and (p.error_type or "").startswith("Runtime."):
                shapes["Runtime.* error without prefix"] += 1
            if "\tundefined\t" in m[:40] and p.kind == "log" and p.request_id is None and p.level:
                shapes["Node init-phase 'undefined' request id"] += 1
            if p.kind == "timeout":
                timeout_lines.add(p.request_id)
            if p.kind == "report" and rec.status == "timeout" and m.startswith("REPORT"):
                timeout_reports.add(p.request_id)
    shapes["REPORT Status: timeout without a 'Task timed out' line"] = len(timeout_reports - timeout_lines)
    wanted = [f"{r} text line with its level" for r in
              ("python3.12", "nodejs20.x", "java21", "dotnet8", "ruby3.3", "provided.al2023")] + [
        "JSON log format platform record", "platform.initStart with instanceId and instanceMaxMemory",
        "provisioned concurrency", "platform.start with functionArn", "SnapStart RESTORE_START",
        "SnapStart RESTORE_REPORT", "Managed Instances report (duration only)",
        "billed > duration on a cold start (init billed)", "extension Ready", "extension LaunchError with Error Type",
        "Powertools logger record", "LAMBDA_WARNING", "Runtime.* error without prefix",
        "Node init-phase 'undefined' request id", "REPORT Status: timeout without a 'Task timed out' line"]
    missing = [w for w in wanted if not shapes[w]]
    assert not missing, f"not in the default fleet: {missing}; counted: {dict(shapes)}"
