"""`coldtrace analyze-cold-starts --log-group` against a local CloudWatch Logs endpoint (moto):
log groups filled with a simulated fleet's events, read back with FilterLogEvents and folded."""

from __future__ import annotations

import time
from collections import Counter

import boto3
import orjson

from pipeline.cli import main as coldtrace
from pipeline.sources.simulate import FleetConfig, simulate


def _fill_log_groups(endpoint: str, cfg: FleetConfig) -> dict:
    payloads, truth = simulate(cfg)
    logs = boto3.client("logs", region_name="eu-west-1", endpoint_url=endpoint)
    streams: dict[tuple[str, str], dict[str, dict]] = {}
    for p in payloads:
        if p.get("messageType") != "DATA_MESSAGE":
            continue
        events = streams.setdefault((p["logGroup"], p["logStream"]), {})
        for e in p["logEvents"]:
            events[e["id"]] = e  # a payload CloudWatch delivered twice is one set of events
    for group in sorted({g for g, _ in streams}):
        logs.create_log_group(logGroupName=group)
    for (group, stream), events in sorted(streams.items()):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        ordered = sorted(events.values(), key=lambda e: e["timestamp"])
        for i in range(0, len(ordered), 5000):
            logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
                {"timestamp": e["timestamp"], "message": e["message"]} for e in ordered[i:i + 5000]])
    return truth


def test_cold_starts_of_a_log_group_backfill_equal_the_fleet_truth(moto_reset, capsys):
    start = (int(time.time()) - 3600) // 60 * 60 * 1000  # an hour ago: within CloudWatch's 14 days
    truth = _fill_log_groups(moto_reset, FleetConfig(seed=5, functions=4, minutes=3, invocations_per_minute=20,
                                                     files=1, start_ms=start))
    capsys.readouterr()
    code = coldtrace(["analyze-cold-starts", "--log-group", "/aws/lambda/*", "--endpoint-url", moto_reset,
                      "--region", "eu-west-1", "--since", "2h", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    analysis = orjson.loads(out)
    got = {r["function"]: (r["invocations"], r["cold_starts"]) for r in analysis["functions"]}
    cold = Counter(i["function"] for i in truth["invocations"] if i["cold_start_kind"] in ("on-demand", "snapstart"))
    calls = Counter(i["function"] for i in truth["invocations"])
    assert got == {fn: (calls[fn], cold[fn]) for fn in calls}
    assert sum(c for _, c in got.values()) > 0 and analysis["source"].startswith("log group")


def test_a_window_with_nothing_in_it_is_a_one_line_error(moto_reset, capsys):
    logs = boto3.client("logs", region_name="eu-west-1", endpoint_url=moto_reset)
    logs.create_log_group(logGroupName="/aws/lambda/quiet")
    code = coldtrace(["analyze-cold-starts", "--log-group", "/aws/lambda/quiet", "--endpoint-url", moto_reset,
                      "--region", "eu-west-1", "--since", "10m"])
    err = capsys.readouterr().err
    assert code == 2 and "no invocation found" in err
    assert coldtrace(["analyze-cold-starts", "--log-group", "x", "--since", "soon"]) == 2
    assert "--since" in capsys.readouterr().err
