"""M-of-N evaluation and state transitions, one function at a time.

``FunctionAlarms`` holds one function's windows and every rule's state. ``add`` takes
MetricPoints (any version, any source, any order); ``advance(until_ms)`` evaluates every period
that has ended by ``until_ms`` and returns the transitions. Batch runs add everything and
advance to the end of the data; streaming runs keep the object in keyed state and advance it
from a watermark timer. Windows arriving for a period already evaluated are counted as late,
unless the object keeps corrections (``keep_ms``): then a point for a minute evaluated less than
``keep_ms`` ago replaces its earlier version (same document id), and the next ``advance``
re-evaluates from that minute (each rule from the state it had there). Only the net change is
emitted, once, its reason saying it followed late data: a correction that would clear an alarm
raised on time and raise it again emits nothing (hysteresis and cooldown apply in the replay).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

from pipeline.model import Alarm, MetricPoint, iso_ms
from pipeline.rules.catalog import STATISTICS, Datapoint, aggregate, merge_window
from pipeline.rules.config import WINDOW_S, Rule, RuleSet
from pipeline.rules.reasons import reason

WINDOW_MS = WINDOW_S * 1000
BREACH, OK, MISSING = "B", "O", "M"


@dataclass(slots=True)
class RuleState:
    """Where one rule stands for one function."""

    state: str = "INSUFFICIENT_DATA"
    settled: bool = False                   # has left the initial INSUFFICIENT_DATA once
    history: list = field(default_factory=list)   # the evaluation range: (against threshold, against clear)
    cooldown_left: int = 0
    next_start_ms: int | None = None        # the next period to evaluate
    timeout_ms: float | None = None         # last timeout a timed-out invocation revealed


def _compare(op: str, value: float, threshold: float) -> bool:
    if op == ">":
        return value > threshold
    if op == ">=":
        return value >= threshold
    if op == "<":
        return value < threshold
    return value <= threshold


# CloudWatch evaluates more datapoints than Evaluation Periods (the "evaluation range") so that
# older real datapoints stand in for recent missing ones; the user guide's example has 3
# evaluation periods and a range of 5. The exact extra depends on period and resolution there;
# two periods is the documented example, used for every rule here.
EVALUATION_RANGE_EXTRA = 2
RETAIN = "RETAIN"


def _premature_alarm(window: list[str], m: int) -> bool:
    """The user guide's "premature alarm" rule: ALARM although fewer than M datapoints exist,
    when the oldest breaching datapoint among the last N is at least M periods old and every
    more recent one is breaching or missing (``- - X - -`` with 3 of 3)."""
    for i, mark in enumerate(window):
        if mark == BREACH:
            return len(window) - i >= m and all(x != OK for x in window[i + 1:])
    return False


def cloudwatch_verdict(marks: list[str], m: int, n: int, treat: str) -> str:
    """What CloudWatch makes of an alarm's recent datapoints, as its user guide documents it
    ("How alarm state is evaluated when data is missing", both tables of worked examples).

    ``marks`` are the datapoints oldest first, each BREACH, OK or MISSING; the last
    ``n + EVALUATION_RANGE_EXTRA`` are the evaluation range. Returns ALARM, OK,
    INSUFFICIENT_DATA or RETAIN (ignore: keep the current state)."""
    rng = marks[-(n + EVALUATION_RANGE_EXTRA):]
    real = [x for x in rng if x != MISSING]
    if len(real) >= n:  # enough real datapoints: the missing ones are not needed
        return "ALARM" if real[-n:].count(BREACH) >= m else "OK"
    # Fill only periods seen missing: before a rule's first datapoint there is nothing to fill.
    fill = min(n - len(real), rng.count(MISSING))
    if treat == "breaching":
        evaluated = real + [BREACH] * fill
    elif treat == "notBreaching":
        evaluated = real + [OK] * fill
    else:  # missing, ignore: only the real datapoints count
        if not real:
            return "INSUFFICIENT_DATA" if treat == "missing" else RETAIN
        if all(x == BREACH for x in real) and _premature_alarm(rng[-n:], m):
            return "ALARM" if treat == "missing" else RETAIN
        evaluated = real
    return "ALARM" if evaluated.count(BREACH) >= m else "OK"


def step(rule: Rule, st: RuleState, dp: Datapoint, limit: float | None, function: str) -> Alarm | None:
    """Feed one period's datapoint; the Alarm when the state changes (None otherwise).

    Going to ALARM and to INSUFFICIENT_DATA, and keeping the state under ``ignore``, follow
    CloudWatch's documented evaluation (``cloudwatch_verdict``). Clearing differs on purpose:
    back to OK only after ``evaluation_periods - datapoints_to_alarm + 1`` datapoints in a row
    under the clear threshold (CloudWatch's own clearing time for a steady incident; a value
    that keeps crossing the line keeps the alarm instead of flapping it), then ``cooldown``.
    The first move out of the initial INSUFFICIENT_DATA into OK is not emitted: every rule of
    every function would otherwise announce that it is fine."""
    threshold = rule.threshold * limit if limit is not None else rule.threshold
    clear = (rule.clear_threshold if rule.clear_threshold is not None else rule.threshold)
    clear = clear * limit if limit is not None else clear
    treat = rule.treat_missing_data
    if dp.value is None or (rule.relative_to is not None and limit is None):
        mark = (MISSING, MISSING)  # the treatment applies at evaluation, over the evaluation range
    else:
        enough = dp.numerator is None or dp.numerator >= rule.min_count
        mark = (BREACH if enough and _compare(rule.op, dp.value, threshold) else OK,
                BREACH if enough and _compare(rule.op, dp.value, clear) else OK)
    n, m = rule.evaluation_periods, rule.datapoints_to_alarm
    st.history.append(mark)
    del st.history[:-(n + EVALUATION_RANGE_EXTRA)]
    verdict = cloudwatch_verdict([x[0] for x in st.history], m, n, treat)
    filled = BREACH if treat == "breaching" else OK  # a missing slot, for counting and calm
    recent = [x if x[0] != MISSING else (filled, filled) for x in st.history[-n:]]
    breaches = sum(1 for x in recent if x[0] == BREACH)
    calm = 0  # trailing datapoints below the clear threshold
    for x in reversed(recent):
        if x[1] == BREACH:
            break
        calm += 1
    if st.cooldown_left:
        st.cooldown_left -= 1
    old = st.state
    if verdict == "INSUFFICIENT_DATA":
        new = "INSUFFICIENT_DATA"
    elif verdict == RETAIN:
        new = old
    elif old != "ALARM" and verdict == "ALARM" and not st.cooldown_left:
        new = "ALARM"
    elif old == "ALARM" and verdict != "ALARM" and calm >= n - m + 1:
        new = "OK"
        st.cooldown_left = rule.cooldown_periods
    elif old == "INSUFFICIENT_DATA" and verdict == "OK":
        new = "OK"
    else:
        new = old
    if new == old:
        return None
    st.state = new
    if not st.settled:
        st.settled = True
        if old == "INSUFFICIENT_DATA" and new == "OK":
            return None
    return Alarm(rule=rule.name, function_name=function, state=new, previous_state=old, time_ms=dp.end_ms,
                 value=None if dp.value is None else round(dp.value, 6),
                 threshold=round(threshold, 6) if new == "ALARM" else round(clear, 6),
                 reason=reason(rule, function, new, dp, threshold if new == "ALARM" else clear, limit,
                               breaches),
                 severity=rule.severity, window_start_ms=dp.start_ms, window_end_ms=dp.end_ms)


class FunctionAlarms:
    """Every rule of one function, evaluated period by period as windows arrive."""

    def __init__(self, function: str, ruleset: RuleSet, keep_ms: int = 0) -> None:
        self.function = function
        self.ruleset = ruleset
        self.keep_ms = keep_ms     # how long after evaluation a minute can still be corrected
        self.snapshots: dict[str, dict[int, RuleState]] = {}   # rule → period start → state before it
        self.dirty_ms: int | None = None   # the earliest corrected minute, to re-evaluate
        self.until_ms: int | None = None   # how far ``advance`` has evaluated
        self.points: dict[int, list[MetricPoint]] = {}
        self.windows: dict[int, dict[str, float]] = {}
        self.states: dict[str, RuleState] = {}
        self.first_ms: int | None = None
        self.last_ms: int | None = None
        self.late = 0
        self.corrections: dict[str, int] = {}   # rule → transitions emitted after late data (their ids)

    def add(self, point: MetricPoint) -> None:
        w = point.window_start_ms - point.window_start_ms % WINDOW_MS
        evaluated = [st.next_start_ms is not None and w < st.next_start_ms for st in self.states.values()]
        if self.states and all(evaluated) and not self._correctable(w):
            self.late += 1
            return
        if any(evaluated):
            self.dirty_ms = w if self.dirty_ms is None else min(self.dirty_ms, w)
        same = point.doc_id()   # a corrected point replaces the version before it
        self.points[w] = [p for p in self.points.get(w, []) if p.doc_id() != same] + [point]
        self.windows.pop(w, None)
        self.first_ms = w if self.first_ms is None else min(self.first_ms, w)
        self.last_ms = w if self.last_ms is None else max(self.last_ms, w)

    def _window(self, w: int) -> dict[str, float] | None:
        if w not in self.points:
            return None
        merged = self.windows.get(w)
        if merged is None:
            merged = self.windows[w] = merge_window(self.points[w])
        return merged

    def _limit(self, rule: Rule, st: RuleState) -> float | None:
        if rule.relative_to == "timeout":
            configured = self.ruleset.settings_for(self.function).timeout_s
            return configured * 1000.0 if configured else st.timeout_ms
        if rule.relative_to == "concurrency_limit":
            return float(self.ruleset.concurrency_limit(self.function))
        return None

    def _settle_ms(self, rule: Rule) -> int:
        """After this time no missing datapoint can change the rule's state any more."""
        assert self.last_ms is not None
        extra = rule.evaluation_periods + EVALUATION_RANGE_EXTRA + rule.cooldown_periods + 1
        return self.last_ms + extra * rule.period_ms

    def settle_ms(self) -> int | None:
        """When the last rule stops needing evaluation without new data (None: no data yet)."""
        if self.last_ms is None:
            return None
        return max((self._settle_ms(r) for r in self.ruleset.rules_for(self.function)),
                   default=self.last_ms + WINDOW_MS)

    def _correctable(self, w: int) -> bool:
        """Can an evaluated minute still be corrected: within ``keep_ms``, and every rule has its
        state from before the minute's period?"""
        if not self.keep_ms or self.until_ms is None or w + WINDOW_MS + self.keep_ms <= self.until_ms:
            return False
        for rule in self.ruleset.rules_for(self.function):
            st = self.states.get(rule.name)
            if st is not None and st.next_start_ms is not None and w < st.next_start_ms \
                    and w - w % rule.period_ms not in self.snapshots.get(rule.name, {}):
                return False
        return True

    def _evaluate(self, rule: Rule, st: RuleState, until_ms: int, out: list[Alarm]) -> None:
        stat = STATISTICS[rule.metric]
        settle = self._settle_ms(rule)
        snaps = self.snapshots.setdefault(rule.name, {}) if self.keep_ms else None
        while st.next_start_ms + rule.period_ms <= min(until_ms, settle):
            start = st.next_start_ms
            if snaps is not None:
                snaps[start] = copy.deepcopy(st)
            windows = [w for w in (self._window(t) for t in range(start, start + rule.period_ms, WINDOW_MS))
                       if w is not None]
            for w in windows:
                if w.get("timeout_limit_ms"):
                    st.timeout_ms = w["timeout_limit_ms"]
            dp = aggregate(stat, windows, start, start + rule.period_ms, rule.min_samples)
            alarm = step(rule, st, dp, self._limit(rule, st), self.function)
            if alarm is not None:
                out.append(alarm)
            st.next_start_ms = start + rule.period_ms

    def _replay(self, rule: Rule, st: RuleState) -> tuple[RuleState, Alarm | None]:
        """Re-evaluate a rule from the corrected minute to where it was; the new state, and the
        one transition to emit (from the state it had to the state it has now), if any."""
        assert self.dirty_ms is not None and st.next_start_ms is not None
        start = self.dirty_ms - self.dirty_ms % rule.period_ms
        snap = self.snapshots.get(rule.name, {}).get(start)
        if snap is None or start >= st.next_start_ms:
            return st, None
        new = copy.deepcopy(snap)
        replayed: list[Alarm] = []
        self._evaluate(rule, new, st.next_start_ms, replayed)
        if new.state == st.state:
            return new, None   # the correction changed nothing anyone was told: no second notification
        note = f"re-evaluated after late data corrected the minute of {iso_ms(self.dirty_ms)}"
        last = replayed[-1] if replayed else None
        if last is not None and last.state == new.state:
            return new, replace(last, previous_state=st.state, reason=f"{last.reason} ({note})")
        # the on-time transition is undone by the correction: the state goes back, once
        end = new.next_start_ms
        return new, Alarm(rule=rule.name, function_name=self.function, state=new.state, previous_state=st.state,
                          time_ms=end, reason=f"{self.function}: {rule.name} is {new.state} again ({note})",
                          severity=rule.severity, window_start_ms=end - rule.period_ms, window_end_ms=end)

    def advance(self, until_ms: int) -> list[Alarm]:
        """Evaluate every period ending at or before ``until_ms``; periods after the last data
        are evaluated as missing for as long as that can still change a state. Corrected
        minutes are re-evaluated first."""
        if self.first_ms is None:
            return []
        out: list[Alarm] = []
        for rule in self.ruleset.rules_for(self.function):
            st = self.states.get(rule.name)
            if st is None:
                st = self.states[rule.name] = RuleState()
            if st.next_start_ms is None:
                st.next_start_ms = self.first_ms - self.first_ms % rule.period_ms
            told = st.state    # what was last notified
            corrected = None
            if self.dirty_ms is not None:
                st, corrected = self._replay(rule, st)
                self.states[rule.name] = st
            ahead: list[Alarm] = []
            self._evaluate(rule, st, until_ms, ahead)
            if corrected is not None and ahead and ahead[0].state == told:
                corrected, ahead = None, ahead[1:]   # cleared by the correction, raised again: no flap
            if corrected is not None:   # numbered: its id differs from every transition told before
                counts = self.__dict__.setdefault("corrections", {})   # (state pickled before the count)
                counts[rule.name] = counts.get(rule.name, 0) + 1
                corrected = replace(corrected, correction=counts[rule.name])
            out.extend(([corrected] if corrected is not None else []) + ahead)
        self.dirty_ms = None
        self.until_ms = until_ms if self.until_ms is None else max(self.until_ms, until_ms)
        self._forget()
        return out

    def _forget(self) -> None:
        """Drop windows every rule has evaluated and that can no longer be corrected (streaming
        state stays small)."""
        if not self.states:
            return
        done = min(st.next_start_ms for st in self.states.values() if st.next_start_ms is not None)
        if self.keep_ms and self.until_ms is not None:
            rules = self.ruleset.rules_for(self.function)
            longest = max((r.period_ms for r in rules), default=WINDOW_MS)
            done = min(done, self.until_ms - self.keep_ms - longest)   # a replay reads from here
            for rule in rules:
                snaps = self.snapshots.get(rule.name, {})
                for s in [s for s in snaps if s + rule.period_ms + self.keep_ms <= self.until_ms]:
                    del snaps[s]
        for w in [w for w in self.points if w < done]:
            del self.points[w]
            self.windows.pop(w, None)


def evaluate_points(function: str, points: list[MetricPoint], ruleset: RuleSet, until_ms: int | None = None,
                    ) -> list[Alarm]:
    """All transitions of one function's points (batch): evaluated to ``until_ms``, default the
    end of its last window."""
    fa = FunctionAlarms(function, ruleset)
    for p in sorted(points, key=lambda p: p.window_start_ms):
        fa.add(p)
    if fa.last_ms is None:
        return []
    return fa.advance(until_ms if until_ms is not None else fa.last_ms + WINDOW_MS)
