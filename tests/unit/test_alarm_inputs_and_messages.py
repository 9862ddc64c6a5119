"""Metric record files, incident specs, notification messages and the alarm options of ``run``."""

from __future__ import annotations

import io
import json

import pytest

from pipeline.cli import main
from pipeline.model import Alarm, DeadLetter, MetricPoint
from pipeline.sinks.alarms import alarm_text, redact_url, slack_payload, sns_message
from pipeline.sources.incidents import Incident, parse_incident
from pipeline.sources.metric_files import read_metric_records

T0 = 1714557600000


def test_metric_records_read_back_as_points_and_bad_lines_as_dead_letters():
    good = {"function_name": "orders-api", "window_start_ms": T0, "window_end_ms": T0 + 60_000,
            "values": {"throttles": 3, "iterator_age_max_ms": 1200.5}}
    lines = [json.dumps(good), "", "not json", json.dumps({**good, "window_end_ms": T0}),
             json.dumps({**good, "values": {"throttles": "many"}}), json.dumps({**good, "function_name": ""}),
             json.dumps([1])]
    items = list(read_metric_records(io.BytesIO("\n".join(lines).encode()), "cw.ndjson"))
    point, *dead = items
    assert isinstance(point, MetricPoint) and point.source == "cloudwatch" and point.values["throttles"] == 3
    assert all(isinstance(d, DeadLetter) and d.stage == "read_metrics" for d in dead) and len(dead) == 5
    assert [d.error.split(": ", 1)[0] for d in dead] == ["cw.ndjson:3", "cw.ndjson:4", "cw.ndjson:5",
                                                        "cw.ndjson:6", "cw.ndjson:7"]
    assert "end after start" in dead[1].error and "'throttles' is not a number" in dead[2].error


def test_incident_specs():
    assert parse_incident("error_burst:orders-api:3-6") == Incident("error_burst", "orders-api", 3, 6)
    assert parse_incident("consumer_lag:payments:2-5:30").level() == 30.0
    assert Incident("throttle_storm", "x", 0, 1).level() == 25.0
    for bad in ("oops:orders:1-2", "error_burst:orders:5-2", "error_burst:orders:a-b", "error_burst:orders"):
        with pytest.raises(ValueError, match="incident"):
            parse_incident(bad)


def test_messages():
    a = Alarm(rule="iterator-age", function_name="zählung", state="OK", previous_state="ALARM", time_ms=T0,
              value=100.0, threshold=30_000.0, reason="zählung: back to normal", severity="critical",
              window_start_ms=T0 - 60_000, window_end_ms=T0)
    msg = sns_message(a)
    assert msg["Subject"] == "OK: z?hlung iterator-age" and len(msg["Subject"]) <= 100
    assert json.loads(msg["Message"])["faas.name"] == "zählung"
    assert slack_payload(a)["attachments"][0]["color"] == "#2eb886"
    assert alarm_text(a) == "[OK] zählung iterator-age (critical) at 2024-05-01T10:00:00.000Z: zählung: back to normal"
    assert redact_url("https://hooks.slack.com/services/T0/B0/secret") == "https://hooks.slack.com/…"
    assert redact_url("http://127.0.0.1:8080/x?token=secret") == "http://127.0.0.1:8080/…"


@pytest.mark.parametrize("extra, message", [
    (["--rules", "{missing}"], "--rules: "),
    (["--rules", "{bad}"], "rules.error-rate.threshold: expected a number"),
    (["--incident", "error_burst:orders-api:9-3"], "--incident: "),
    (["--incident", "error_burst:no-such-fn:1-3"], "the fleet has no such function"),
    (["--webhook-url-env", "COLDTRACE_TEST_UNSET_VAR"], "environment variable COLDTRACE_TEST_UNSET_VAR"),
    (["--sns-topic-arn", "oncall"], "is not an ARN"),
    (["--metrics-input", "{missing}"], "no file matches --metrics-input"),
    (["--input", "{good}", "--incident", "error_burst:x:1-2"], "--incident is for the simulated fleet"),
])
def test_bad_alarm_options_are_one_line_usage_errors(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.delenv("COLDTRACE_TEST_UNSET_VAR", raising=False)
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: {error-rate: {threshold: high}}")
    good = tmp_path / "in.ndjson"
    good.write_text("")
    args = [x.format(missing=tmp_path / "nope", bad=bad, good=good) for x in extra]
    assert main(["run", "--out", str(tmp_path / "out"), "--events", "600", "--quiet", "--no-report", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("coldtrace run: ") and message in err and "\n" not in err
