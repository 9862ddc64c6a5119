"""Alarm rules: loading and overrides, CloudWatch-like M-of-N evaluation, missing data,
hysteresis and cooldown, relative thresholds, merging of versions and sources, the reasons."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from pipeline.model import MetricPoint
from pipeline.rules import (
    FunctionAlarms,
    FunctionSettings,
    Rule,
    RulesError,
    RuleSet,
    default_rules,
    evaluate_points,
    load_rules,
    merge_window,
)

T0 = 1714557600000
MIN = 60_000


def point(minute: int, fn: str = "orders-api", source: str = "logs", version: str | None = "1", **values):
    return MetricPoint(function_name=fn, window_start_ms=T0 + minute * MIN, window_end_ms=T0 + (minute + 1) * MIN,
                       function_version=version, source=source, values=values)


def series(rates: list[float | None], n: int = 100, fn: str = "orders-api") -> list[MetricPoint]:
    """One point per minute with the given error rate (None: no point that minute)."""
    return [point(m, fn, invocations=n, errors=round(r * n)) for m, r in enumerate(rates) if r is not None]


def only(rule: Rule, **kw) -> RuleSet:
    return RuleSet(rules=(rule,), **kw)


ERR = Rule(name="error-rate", metric="error_rate", threshold=0.10, evaluation_periods=5, datapoints_to_alarm=3)


def transitions(alarms):
    return [((a.window_start_ms - T0) // MIN, a.previous_state, a.state) for a in alarms]


# -- M of N, clearing, missing data ---------------------------------------------------------------

def test_three_of_five_fires_on_the_third_breach_and_clears_when_fewer_than_three_remain():
    rates = [0.02] * 4 + [0.5] * 4 + [0.02] * 6
    alarms = evaluate_points("orders-api", series(rates), only(ERR))
    # incident minutes 4..7: the third breach is minute 6; 5 - 3 + 1 = 3 calm minutes (8, 9, 10) clear it
    assert transitions(alarms) == [(6, "OK", "ALARM"), (10, "ALARM", "OK")]
    fire, clear = alarms
    assert fire.value == 0.5 and fire.threshold == 0.1 and fire.time_ms == T0 + 7 * MIN
    assert fire.reason == ("orders-api: 50 of 100 invocations failed in 1 min (50 % > 10 %); "
                           "3 of the last 5 minutes breached")
    assert clear.reason == (
        "orders-api: back to normal, 2 of 100 invocations failed in 1 min (2.0 % ≤ 10 %); calm for 3 minutes")


def test_a_steady_series_below_threshold_emits_nothing_not_even_the_initial_ok():
    assert evaluate_points("orders-api", series([0.02] * 30), only(ERR)) == []


def test_alternating_around_the_threshold_does_not_flap():
    rates = [0.02] * 3 + [0.2, 0.05] * 8 + [0.02] * 8
    alarms = evaluate_points("orders-api", series(rates), only(ERR))
    # CloudWatch's "fewer than 3 of 5" would flap on every other minute here
    assert transitions(alarms) == [(7, "OK", "ALARM"), (20, "ALARM", "OK")]


def test_clear_threshold_holds_the_alarm_until_the_value_really_drops():
    rule = Rule(name="r", metric="error_rate", threshold=0.10, clear_threshold=0.05)
    alarms = evaluate_points("orders-api", series([0.02, 0.2, 0.08, 0.08, 0.03, 0.02]), only(rule))
    assert transitions(alarms) == [(1, "OK", "ALARM"), (4, "ALARM", "OK")]


def test_cooldown_keeps_a_cleared_alarm_quiet():
    rule = Rule(name="r", metric="errors", threshold=0, cooldown_periods=3)
    pts = [point(m, invocations=10, errors=e) for m, e in enumerate([0, 1, 0, 1, 1, 0, 0, 1, 0])]
    assert transitions(evaluate_points("orders-api", pts, only(rule))) == [
        (1, "OK", "ALARM"), (2, "ALARM", "OK"), (7, "OK", "ALARM"), (8, "ALARM", "OK")]


@pytest.mark.parametrize("treat, want", [
    # CloudWatch keeps evaluating the real breaching datapoint while it is in the evaluation
    # range (3 periods + 2, the user guide's example): notBreaching clears and missing goes to
    # INSUFFICIENT_DATA once minute 2 has left it, at minute 7 (tests/unit/test_cloudwatch_semantics.py)
    ("notBreaching", [(2, "OK", "ALARM"), (7, "ALARM", "OK")]),
    ("breaching", [(2, "OK", "ALARM")]),
    ("ignore", [(2, "OK", "ALARM")]),
    ("missing", [(2, "OK", "ALARM"), (7, "ALARM", "INSUFFICIENT_DATA")]),
])
def test_treat_missing_data(treat, want):
    rule = Rule(name="r", metric="error_rate", threshold=0.10, evaluation_periods=3, datapoints_to_alarm=1,
                treat_missing_data=treat)
    pts = series([0.0, 0.0, 0.5])  # then no data at all
    assert transitions(evaluate_points("orders-api", pts, only(rule), until_ms=T0 + 12 * MIN)) == want


def test_min_samples_and_min_count_keep_small_numbers_quiet():
    rule = Rule(name="r", metric="error_rate", threshold=0.10, min_samples=10, min_count=3)
    assert evaluate_points("f", [point(0, "f", invocations=5, errors=4)], only(rule)) == []
    assert evaluate_points("f", [point(0, "f", invocations=20, errors=2)], only(rule)) == []
    assert [a.state for a in evaluate_points("f", [point(0, "f", invocations=20, errors=3)], only(rule))] == ["ALARM"]


def test_five_minute_period_divides_sums_not_averages_rates():
    rule = Rule(name="oom", metric="oom_rate", threshold=0.02, period_s=300)
    pts = [point(m, invocations=n, out_of_memory=k) for m, (n, k) in enumerate([(10, 1), (90, 2), (100, 0), (100, 0), (100, 0)])]
    # the mean of the per-minute rates is 2.4 %, the 5-minute rate 3 / 400 = 0.75 %
    assert evaluate_points("orders-api", pts, only(rule)) == []
    pts[2].values["out_of_memory"] = 7
    (alarm,) = evaluate_points("orders-api", pts, only(rule))
    assert (alarm.window_start_ms, alarm.window_end_ms, alarm.value) == (T0, T0 + 5 * MIN, 10 / 400)
    assert alarm.reason == "orders-api: 10 of 400 invocations ran out of memory in 5 min (2.5 % > 2.0 %)"


# -- relative thresholds ----------------------------------------------------------------------------

def test_duration_pressure_uses_configured_or_revealed_timeout():
    rule = Rule(name="dp", metric="completed_duration_p99_ms", relative_to="timeout", threshold=0.9)
    pts = [point(0, invocations=50, completed_duration_p99_ms=2_800.0)]
    assert evaluate_points("orders-api", pts, only(rule)) == []  # timeout unknown: no datapoint
    (alarm,) = evaluate_points("orders-api", pts, only(rule, functions=(("orders-*", FunctionSettings(timeout_s=3)),)))
    assert alarm.threshold == 2700.0
    assert alarm.reason == ("orders-api: p99 duration of completed invocations 2.8 s in 1 min is 93 % of the 3 s "
                            "timeout (> 90 %)")
    revealed = [point(0, invocations=50, completed_duration_p99_ms=100.0, timeout_limit_ms=3000.0),
                point(1, invocations=50, completed_duration_p99_ms=2_800.0)]
    assert [a.state for a in evaluate_points("orders-api", revealed, only(rule))] == ["ALARM"]


def test_concurrency_against_reserved_or_account_limit():
    rule = Rule(name="c", metric="max_concurrency", relative_to="concurrency_limit", threshold=0.8)
    pts = [point(0, invocations=500, max_concurrency=9)]
    assert evaluate_points("orders-api", pts, only(rule)) == []  # of the account's 1000
    rs = only(rule, functions=(("orders-api", FunctionSettings(reserved_concurrency=10)),))
    (alarm,) = evaluate_points("orders-api", pts, rs)
    assert "is 90 % of the concurrency limit of 10 (> 80 %)" in alarm.reason
    (alarm,) = evaluate_points("orders-api", pts, only(rule, account_concurrency_limit=10))
    assert alarm.state == "ALARM"


# -- merging points -----------------------------------------------------------------------------------

def test_versions_add_up_and_sources_take_the_larger_figure():
    merged = merge_window([
        point(0, version="1", invocations=60, errors=3, throttles=0, duration_p99_ms=120.0, max_concurrency=2),
        point(0, version="2", invocations=40, errors=1, throttles=2, duration_p99_ms=300.0, max_concurrency=3),
        point(0, version=None, source="cloudwatch", throttles=7, max_concurrency=4, iterator_age_max_ms=900.0),
    ])
    assert merged == {"invocations": 100, "errors": 4, "throttles": 7, "duration_p99_ms": 300.0,
                      "max_concurrency": 5, "iterator_age_max_ms": 900.0}


def test_iterator_age_from_any_source_including_the_pipeline_itself():
    rs = default_rules()
    pts = [point(m, "coldtrace-pipeline", source="pipeline", version=None, iterator_age_max_ms=age)
           for m, age in enumerate([1_000, 90_000, 120_000, 150_000, 20_000, 10_000, 5_000])]
    alarms = evaluate_points("coldtrace-pipeline", pts, rs)
    assert transitions(alarms) == [(2, "OK", "ALARM"), (5, "ALARM", "OK")]  # 2 calm minutes under 30 s
    assert alarms[0].rule == "iterator-age" and alarms[0].severity == "critical"
    assert alarms[0].reason.startswith("coldtrace-pipeline: iterator age 2 min in 1 min (2 min > 1 min)")


def test_incremental_advance_equals_batch():
    rates = [0.02] * 3 + [0.4] * 5 + [0.02] * 3 + [None] * 4 + [0.3] * 4 + [0.01] * 6
    pts = series(rates)
    batch = evaluate_points("orders-api", pts, default_rules(), until_ms=T0 + 40 * MIN)
    fa = FunctionAlarms("orders-api", default_rules())
    streamed = []
    for p in pts:
        fa.add(p)
        streamed += fa.advance(p.window_start_ms)  # the watermark trails the data by a window
    streamed += fa.advance(T0 + 40 * MIN)
    assert streamed == batch and [a.state for a in batch] == ["ALARM", "OK", "ALARM", "OK"]
    fa.add(pts[0])
    assert fa.late == 1


# -- rules as data ------------------------------------------------------------------------------------

def test_defaults_cover_the_issue_list_and_risky_ones_are_opt_in():
    rules = {r.name: r for r in default_rules().rules}
    assert {"errors", "error-rate", "throttles", "timeouts", "out-of-memory", "cold-start-rate",
            "duration-pressure", "memory-pressure", "concurrency", "iterator-age", "dead-letters"} <= set(rules)
    assert not rules["errors"].enabled and not rules["timeouts"].enabled
    names = [r.name for r in default_rules().rules_for("anything")]
    assert "errors" not in names and "error-rate" in names


def test_user_file_changes_fields_adds_rules_and_overrides_by_glob(tmp_path: Path):
    f = tmp_path / "rules.yaml"
    f.write_text("""
rules:
  error-rate: {threshold: 0.05}
  slow-inits: {metric: init_p99_ms, threshold: 2000, evaluation_periods: 3, datapoints_to_alarm: 2}
overrides:
  - functions: ["payments*", "billing"]
    rules:
      errors: {enabled: true}
      error-rate: {threshold: 0.01, severity: critical}
functions:
  "orders-*": {timeout_s: 6}
  orders-api: {reserved_concurrency: 40}
account_concurrency_limit: 3000
""")
    rs = load_rules(f)
    by = {r.name: r for r in rs.rules_for("orders-api")}
    assert by["error-rate"].threshold == 0.05 and by["slow-inits"].datapoints_to_alarm == 2
    assert "errors" not in by
    pay = {r.name: r for r in rs.rules_for("payments-eu")}
    assert pay["errors"].enabled and (pay["error-rate"].threshold, pay["error-rate"].severity) == (0.01, "critical")
    assert rs.settings_for("orders-api") == FunctionSettings(timeout_s=6, reserved_concurrency=40)
    assert rs.concurrency_limit("orders-api") == 40 and rs.concurrency_limit("other") == 3000


@pytest.mark.parametrize("text, message", [
    ("rules: {error-rate: {treshold: 1}}", "rules.error-rate.treshold: unknown rule field"),
    ("rules: {error-rate: {threshold: abc}}", "rules.error-rate.threshold: expected a number"),
    ("rules: {x: {metric: nope}}", "rules.x.metric: unknown metric 'nope'"),
    ("rules: {x: {threshold: 1}}", "rules.x: a new rule needs a metric"),
    ("rules: {error-rate: {period_s: 90}}", "must be a multiple of 60 s"),
    ("rules: {error-rate: {datapoints_to_alarm: 9}}", "datapoints_to_alarm (9) exceeds evaluation_periods (5)"),
    ("rules: {error-rate: {treat_missing_data: maybe}}", "treat_missing_data: must be one of"),
    ("overrides: [{functions: 'a*', rules: {nope: {enabled: true}}}]", "overrides[0].rules.nope: no such rule"),
    ("functions: {a: {timeout_s: -1}}", "functions.a.timeout_s: must be at least 1"),
    ("alarms: {}", "unknown section(s) alarms"),
    ("rules: [1, 2]", "rules: expected a mapping"),
    ("rules: {a: [b", "not valid YAML"),
])
def test_bad_files_name_the_file_and_the_field(tmp_path: Path, text, message):
    f = tmp_path / "rules.yaml"
    f.write_text(text)
    with pytest.raises(RulesError) as err:
        load_rules(f)
    assert str(f) in str(err.value) and message in str(err.value)


def test_missing_file_is_a_rules_error(tmp_path: Path):
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "nope.yaml")


def test_ruleset_pickles_without_its_cache():
    rs = default_rules()
    rs.rules_for("a")
    again = pickle.loads(pickle.dumps(rs))
    assert again == rs and again._cache == {}
