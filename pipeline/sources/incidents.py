"""Incidents injected into the synthetic fleet, and the alarms they must raise.

A fleet with ``FleetConfig.incidents`` empty is the steady fleet, byte for byte. Each Incident
acts on one function over whole minutes ``[start_minute, end_minute)`` of the window:

- ``error_burst``: a share ``intensity`` (default 0.5) of the function's invocations fail.
- ``throttle_storm``: traffic ``intensity`` times (default 25) the usual arrives at the function's
  root caller while the function has ``reserved_concurrency`` (default 5, for the whole window);
  invocations arriving with every environment busy are rejected. A rejected invocation leaves
  no line in the function's own log: a synchronous caller logs ``TooManyRequestsException``
  with the function's ARN, and the simulated CloudWatch metrics feed counts it in Throttles.
- ``timeout_regression``: a share ``intensity`` (default 0.4) of invocations time out and the rest
  run at 85-98 % of the timeout (a slow dependency).
- ``consumer_lag``: the function consumes a Kinesis stream and falls behind: its IteratorAge
  (in the metrics feed only) grows by ``intensity`` seconds a minute (default 120), then drains.

The truth records, per incident target, the exact per-minute figures the pipeline should
compute from the logs and the feed, and ``expected_alarms``: what the built-in rules make of
those figures, by a small reference evaluator written apart from ``pipeline.rules.evaluate``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from pipeline.rules import default_rules

KINDS = ("error_burst", "throttle_storm", "timeout_regression", "consumer_lag")
DEFAULT_INTENSITY = {"error_burst": 0.5, "throttle_storm": 25.0, "timeout_regression": 0.4, "consumer_lag": 120.0}
RULES_OF = {"error_burst": ("error-rate",), "throttle_storm": ("throttles", "concurrency"),
            "timeout_regression": ("timeout-rate", "error-rate", "duration-pressure"),
            "consumer_lag": ("iterator-age",)}
METRICS_FILE = "cloudwatch_metrics.ndjson"
MINUTE_MS = 60_000
FAILURES = ("error", "timeout", "out_of_memory", "crash")


@dataclass(frozen=True, slots=True)
class Incident:
    kind: str
    function: str
    start_minute: int
    end_minute: int
    intensity: float = 0.0               # 0: the kind's default
    reserved_concurrency: int = 5        # throttle_storm only

    def level(self) -> float:
        return self.intensity or DEFAULT_INTENSITY[self.kind]


def parse_incident(text: str) -> Incident:
    """``KIND:FUNCTION:START-END[:INTENSITY]`` (minutes), e.g. ``error_burst:orders-api:3-6``."""
    parts = text.split(":")
    if len(parts) not in (3, 4) or parts[0] not in KINDS or "-" not in parts[2]:
        raise ValueError(f"incident {text!r}: expected KIND:FUNCTION:START-END[:INTENSITY] with KIND one of "
                         f"{', '.join(KINDS)}")
    start, _, end = parts[2].partition("-")
    try:
        inc = Incident(parts[0], parts[1], int(start), int(end), float(parts[3]) if len(parts) == 4 else 0.0)
    except ValueError:
        raise ValueError(f"incident {text!r}: minutes must be integers and the intensity a number") from None
    if not 0 <= inc.start_minute < inc.end_minute:
        raise ValueError(f"incident {text!r}: START-END must be increasing minutes from 0")
    return inc


@dataclass(slots=True)
class _Minute:
    """One target function's exact figures for one minute (by invocation start)."""
    invocations: int = 0
    failures: int = 0
    timeouts: int = 0
    throttles: int = 0
    completed: list = field(default_factory=list)
    intervals: list = field(default_factory=list)


class IncidentBook:
    """The fleet's incidents at run time: what they change, and what they leave as truth."""

    def __init__(self, incidents: tuple[Incident, ...], specs: list, start_ms: int, minutes: int, seed: int) -> None:
        names = {s.name: s for s in specs}
        for inc in incidents:
            if inc.kind not in KINDS:
                raise ValueError(f"unknown incident kind {inc.kind!r} (known: {', '.join(KINDS)})")
            if inc.function not in names:
                raise ValueError(f"incident on {inc.function!r}: the fleet has no such function "
                                 f"(it has {', '.join(names)})")
            if inc.end_minute > minutes:
                raise ValueError(f"incident on {inc.function!r} ends at minute {inc.end_minute}, "
                                 f"after the fleet's {minutes} minutes")
        self.incidents = incidents
        self.specs = specs
        self.start_ms = start_ms
        self.minutes = minutes
        self.rng = random.Random(f"coldtrace-incidents:{seed}")
        self.series: dict[str, list[_Minute]] = {
            inc.function: [_Minute() for _ in range(minutes)] for inc in incidents}
        self.limits = {inc.function: inc.reserved_concurrency for inc in incidents if inc.kind == "throttle_storm"}
        self._surge: dict[int, list[Incident]] = {}
        for inc in incidents:
            if inc.kind == "throttle_storm":
                root = names[inc.function]
                while root.parent is not None:
                    root = specs[root.parent]
                self._surge.setdefault(root.index, []).append(inc)

    def _active(self, inc: Incident, t: float) -> bool:
        return self.start_ms + inc.start_minute * MINUTE_MS <= t < self.start_ms + inc.end_minute * MINUTE_MS

    def _on(self, spec, kind: str, t: float) -> Incident | None:
        for inc in self.incidents:
            if inc.kind == kind and inc.function == spec.name and self._active(inc, t):
                return inc
        return None

    def _minute(self, name: str, t: float) -> _Minute | None:
        rows = self.series.get(name)
        m = int((t - self.start_ms) // MINUTE_MS)
        return rows[m] if rows is not None and 0 <= m < self.minutes else None

    # -- hooks the fleet calls -----------------------------------------------------------------
    def rate_factor(self, spec, t: float) -> float:
        factor = 1.0
        for inc in self._surge.get(spec.index, ()):
            if self._active(inc, t):
                factor *= inc.level()
        return factor

    def limit(self, spec) -> int | None:
        return self.limits.get(spec.name)

    def throttled(self, spec, t: float) -> None:
        row = self._minute(spec.name, t)
        if row is not None:
            row.throttles += 1

    def adjust(self, spec, t: float, outcome: str, disguised: bool, duration: float) -> tuple[str, bool, float]:
        """(outcome, disguised OOM, duration) under whatever incident is on the function at t."""
        inc = self._on(spec, "error_burst", t)
        if inc is not None and outcome == "success" and self.rng.random() < inc.level():
            return "error", False, duration
        inc = self._on(spec, "timeout_regression", t)
        if inc is not None and outcome in ("success", "error"):
            timeout_ms = spec.timeout_s * 1000
            if self.rng.random() < inc.level():
                return "timeout", False, round(timeout_ms + self.rng.uniform(0.3, 4.0), 2)
            return outcome, disguised, round(timeout_ms * self.rng.uniform(0.85, 0.98), 2)
        return outcome, disguised, duration

    def record(self, spec, start: int, end: int, outcome: str, duration: float) -> None:
        row = self._minute(spec.name, start)
        if row is None:
            return
        row.invocations += 1
        row.failures += outcome in FAILURES
        row.timeouts += outcome == "timeout"
        if outcome in ("success", "error"):
            row.completed.append(duration)
        at = start
        while at < end:  # the interval in every minute it overlaps, as concurrency counts it
            piece = self._minute(spec.name, at)
            if piece is None:
                break
            cut = min(end, at - (at - self.start_ms) % MINUTE_MS + MINUTE_MS)
            piece.intervals.append((at, cut))
            at = cut

    # -- the feed and the truth -------------------------------------------------------------------
    def iterator_ages(self, inc: Incident) -> list[float]:
        """IteratorAge (max, ms) per minute: sub-second while keeping up, growing by the
        intensity while behind, draining three times as fast afterwards."""
        rng = random.Random(f"coldtrace-lag:{inc.function}:{inc.start_minute}")
        ages, lag = [], 0.0
        for m in range(self.minutes):
            if inc.start_minute <= m < inc.end_minute:
                lag += inc.level() * 1000.0
            elif m >= inc.end_minute:
                lag = max(0.0, lag - 3 * inc.level() * 1000.0)
            ages.append(round(lag + rng.uniform(150.0, 900.0), 1))
        return ages

    def metric_records(self, account: str, region: str) -> list[dict[str, Any]]:
        """The simulated CloudWatch metrics feed: MetricPoint records with source ``cloudwatch``."""
        out = []
        for name, limit in self.limits.items():
            for m, row in enumerate(self.series[name]):
                out.append(_record(name, self.start_ms + m * MINUTE_MS, account, region, {"throttles": row.throttles}))
        for inc in self.incidents:
            if inc.kind == "consumer_lag":
                for m, age in enumerate(self.iterator_ages(inc)):
                    out.append(_record(inc.function, self.start_ms + m * MINUTE_MS, account, region,
                                       {"iterator_age_max_ms": age}))
        out.sort(key=lambda r: (r["window_start_ms"], r["function_name"]))
        return out

    def truth(self) -> dict[str, Any]:
        rules = {r.name: r for r in default_rules().rules}
        timeouts = {s.name: s.timeout_s * 1000 for s in self.specs}
        figures: dict[str, list[dict[str, Any]]] = {}
        for name, rows in self.series.items():
            figures[name] = [_figures(row, self.limits.get(name)) for row in rows]
        ages = {inc.function: self.iterator_ages(inc) for inc in self.incidents if inc.kind == "consumer_lag"}
        for name, series in ages.items():
            for fig, age in zip(figures[name], series):
                fig["iterator_age_max_ms"] = age
        expected = []
        for name in sorted(figures):
            kinds = {inc.kind for inc in self.incidents if inc.function == name}
            for rule_name in sorted({r for k in kinds for r in RULES_OF[k]}):
                marks = [_marks(rules[rule_name], fig, timeouts[name], self.limits.get(name)) for fig in figures[name]]
                for minute, state in reference_transitions(marks, rules[rule_name]):
                    expected.append({"rule": rule_name, "function": name, "state": state,
                                     "window_start_ms": self.start_ms + minute * MINUTE_MS})
        return {"incidents": [{"kind": i.kind, "function": i.function, "intensity": i.level(),
                               "start_ms": self.start_ms + i.start_minute * MINUTE_MS,
                               "end_ms": self.start_ms + i.end_minute * MINUTE_MS} for i in self.incidents],
                "settings": {name: {"reserved_concurrency": limit} for name, limit in self.limits.items()},
                "cloudwatch_metrics": METRICS_FILE,
                "incident_figures": figures,
                "expected_alarms": sorted(expected, key=lambda a: (a["window_start_ms"], a["function"], a["rule"]))}


def _record(name: str, start_ms: int, account: str, region: str, values: dict) -> dict[str, Any]:
    return {"function_name": name, "window_start_ms": start_ms, "window_end_ms": start_ms + MINUTE_MS,
            "source": "cloudwatch", "account": account, "region": region, "values": values}


def _figures(row: _Minute, limit: int | None) -> dict[str, Any]:
    completed = sorted(row.completed)
    events = sorted([(s, 1) for s, _ in row.intervals] + [(e, -1) for _, e in row.intervals])
    level = peak = 0
    for _, d in events:  # ends sort before starts at the same millisecond
        level += d
        peak = max(peak, level)
    return {"invocations": row.invocations, "errors": row.failures, "timeouts": row.timeouts,
            "throttles": row.throttles, "max_concurrency": peak,
            "completed_p99_ms": completed[max(0, math.ceil(0.99 * len(completed)) - 1)] if completed else None}


def _marks(rule, fig: dict[str, Any], timeout_ms: float, limit: int | None) -> tuple[bool, bool] | None:
    """(breaches the threshold, breaches the clear threshold) of one minute; None: no datapoint."""
    clear = rule.clear_threshold if rule.clear_threshold is not None else rule.threshold
    if rule.metric in ("error_rate", "timeout_rate"):
        count = fig["errors"] if rule.metric == "error_rate" else fig["timeouts"]
        n = fig["invocations"]
        if n == 0 or n < rule.min_samples:
            return None
        enough = count >= rule.min_count
        return enough and count / n > rule.threshold, enough and count / n > clear
    if rule.metric == "completed_duration_p99_ms":
        p99 = fig["completed_p99_ms"]
        return None if p99 is None else (p99 > rule.threshold * timeout_ms, p99 > clear * timeout_ms)
    if rule.metric == "max_concurrency":
        cap = limit or 1000
        return fig["max_concurrency"] > rule.threshold * cap, fig["max_concurrency"] > clear * cap
    if rule.metric == "throttles":
        return fig["throttles"] > rule.threshold, fig["throttles"] > clear
    if rule.metric == "iterator_age_max_ms":
        age = fig.get("iterator_age_max_ms")
        return None if age is None else (age > rule.threshold, age > clear)
    raise ValueError(f"no reference for {rule.metric}")


def reference_transitions(marks: list[tuple[bool, bool] | None], rule) -> list[tuple[int, str]]:
    """CloudWatch's M of N as its user guide documents it, for 1-minute rules that treat missing
    data as not breaching: each minute looks at the evaluation range (N + 2 minutes, the guide's
    example); with N real datapoints in it the last N real ones count, otherwise the real ones
    plus not-breaching fill. ALARM when M of those breach; OK when they no longer do and N - M + 1
    minutes in a row stayed under the clear threshold (coldtrace's anti-flap rule); quiet for the
    cooldown after clearing."""
    assert rule.period_s == 60 and rule.treat_missing_data in ("notBreaching", "missing")
    n, m = rule.evaluation_periods, rule.datapoints_to_alarm
    alarm, cooldown, out = False, 0, []
    window: list[bool | None] = []
    calm = 0
    for minute, mark in enumerate(marks):
        breach, clear_breach = mark if mark is not None else (False, False)
        window = (window + [None if mark is None else breach])[-(n + 2):]
        real = [b for b in window if b is not None]
        breaching = sum(real[-n:]) if len(real) >= n else sum(real)
        calm = 0 if clear_breach else calm + 1
        cooldown = max(0, cooldown - 1)
        if not alarm and breaching >= m and not cooldown:
            alarm = True
            out.append((minute, "ALARM"))
        elif alarm and breaching < m and calm >= n - m + 1:
            alarm = False
            cooldown = rule.cooldown_periods
            out.append((minute, "OK"))
    return out
