"""The catch-up loop's own carried state (pipeline/streaming/loop_state.py), round by round with
a pickle in between, as the loop runs it: traces emitted after the gap and re-emitted with the
same ids when a late member joins; alarm transitions the same as one batch evaluation, each
emitted in exactly one round."""

from __future__ import annotations

import os
import tempfile

from pipeline.carry.windows import resume_window
from pipeline.cli import main
from pipeline.detect.health import age_point
from pipeline.detect.observation import Observation
from pipeline.model import Invocation, MetricPoint
from pipeline.rules import default_rules, evaluate_points, load_rules
from pipeline.stitch import stitch
from pipeline.streaming.loop_state import LoopState

T0 = 1714557600000
MIN = 60_000
GAP = 2 * MIN
X1 = "1-663212a0-a034d9eb42d9b30724dfa411"


def inv(fn: str, rid: str, start: int, dur: int, xray: str | None = X1, parent: str | None = None) -> Invocation:
    return Invocation(function_name=fn, request_id=rid, log_group=f"/aws/lambda/{fn}", start_ms=T0 + start,
                      end_ms=T0 + start + dur, duration_ms=float(dur), outcome="success", xray_trace_id=xray,
                      parent_request_id=parent)


def carried(state: LoopState, rules=None) -> LoopState:
    return LoopState.loads(state.dumps(), rules or default_rules(), GAP)


def test_a_trace_waits_for_its_gap_then_a_late_member_re_emits_it_with_the_same_ids():
    api, orders = inv("api", "r-api", 0, 500), inv("orders", "r-orders", 20, 200, parent="r-api")
    late = inv("notify", "r-notify", 400, 50, parent="r-orders")
    rules = default_rules()
    state = LoopState.loads(None, rules, GAP)
    first = state.step([api, orders, inv("solo", "r-solo", 0, 5, xray=None)], [], None, 0, T0)
    assert first.spans == [] and first.traces == 0               # no watermark yet
    state = carried(state)
    assert state.step([], [], T0 + GAP, 0, T0).traces == 0       # not silent for a whole gap yet
    state = carried(state)
    emitted = state.step([], [], T0 + 600 + GAP, 0, T0)
    assert emitted.traces == 1 and {s.request_id for s in emitted.spans} == {"r-api", "r-orders"}
    state = carried(state)
    assert state.step([], [], T0 + 10 * MIN, 0, T0).spans == []  # emitted once: nothing new to say
    state = carried(state)
    again = state.step([late], [], T0 + 12 * MIN, 0, T0)           # within the retention: re-emitted
    assert again.traces == 1 and {s.request_id for s in again.spans} == {"r-api", "r-orders", "r-notify"}
    (batch,) = stitch([api, orders, late])
    assert sorted(s.doc_id() for s in again.spans) == sorted(s.doc_id() for s in batch)
    assert {s.request_id: s.span_id for s in emitted.spans} == {s.request_id: s.span_id for s in again.spans
                                                               if s.request_id != "r-notify"}
    root = next(s for s in again.spans if s.parent_span_id is None)
    assert root.to_doc() == next(s for s in batch if s.parent_span_id is None).to_doc()


def error_series(fn: str, rates: list[float], n: int = 40) -> list[MetricPoint]:
    return [MetricPoint(function_name=fn, window_start_ms=T0 + m * MIN, window_end_ms=T0 + (m + 1) * MIN,
                        values={"invocations": n, "errors": round(r * n)}) for m, r in enumerate(rates)]


def test_alarm_transitions_match_batch_and_each_is_emitted_in_one_round_only():
    lateness = 2 * MIN
    rules = default_rules()
    series = {"orders-api": error_series("orders-api", [0.0] * 3 + [0.5] * 5 + [0.0] * 8),
              "payments": error_series("payments", [0.01] * 6 + [0.4] * 4 + [0.0] * 6)}
    end = T0 + 16 * MIN
    want = sorted((a.function_name, a.rule, a.state, a.window_start_ms)
                  for fn, pts in series.items() for a in evaluate_points(fn, pts, rules, end))
    assert {w[2] for w in want} == {"ALARM", "OK"}

    state = LoopState.loads(None, rules, GAP)
    got, late = [], 0
    for m in range(16):    # minute m's window closes (is emitted) once the watermark passes m+1+lateness
        watermark = T0 + (m + 1) * MIN + lateness
        step = state.step([], [series[fn][m] for fn in series], watermark, lateness, T0)
        got += step.alarms
        late += step.late_points
        state = carried(state, rules)
    got += state.step([], [], None, lateness, T0, drain=True).alarms   # a drain evaluates to the end of the data
    assert late == 0
    assert sorted((a.function_name, a.rule, a.state, a.window_start_ms) for a in got) == want
    assert len({a.doc_id() for a in got}) == len(got)
    assert carried(state, rules).step([], [], T0 + 60 * MIN, lateness, T0, drain=True).alarms == []


def test_the_pipelines_own_minutes_advance_with_processing_time():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "rules.yaml")
        with open(path, "w") as f:
            f.write("rules:\n  pipeline-lag:\n    metric: iterator_age_max_ms\n    threshold: 60000\n"
                    "    evaluation_periods: 1\n    datapoints_to_alarm: 1\n")
        rules = load_rules(path)
    state = LoopState.loads(None, rules, GAP)
    points = [age_point(T0 + m * MIN, 500 if m < 2 else 300_000) for m in range(4)]
    # no event-time watermark at all: the pipeline's minutes are over by the clock
    alarms = state.step([], points, None, 0, T0 + 4 * MIN).alarms
    assert [(a.function_name, a.state, a.window_start_ms) for a in alarms if a.rule == "pipeline-lag"] == [
        ("coldtrace-pipeline", "ALARM", T0 + 2 * MIN)]


def _one_of_one_error_rate():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "rules.yaml")
        with open(path, "w") as f:
            f.write("rules:\n  fast-errors:\n    metric: error_rate\n    threshold: 0.2\n"
                    "    evaluation_periods: 1\n    datapoints_to_alarm: 1\n")
        return load_rules(path)


def test_an_on_time_alarm_then_a_late_correction_under_the_same_id_notifies_once_per_real_transition():
    """The windows fire at the watermark (not after the lateness); late lines correct the point
    under the same id, and the alarm is re-evaluated: one notification per real transition."""
    def obs(minute: int, outcome: str = "success") -> Observation:
        return Observation(function_name="orders", window_start_ms=T0 + minute * MIN, outcome=outcome,
                           duration_ms=5.0)

    lateness, rules = 3 * MIN, _one_of_one_error_rate()
    state = LoopState.loads(None, rules, GAP)
    windows: dict[int, bytes | None] = {}
    emitted: list[MetricPoint] = []
    notified = []

    def round_(watermark: int, new: dict[int, list[Observation]]):
        nonlocal state
        points = []
        for m in sorted(set(windows) | set(new)):
            step = resume_window(("orders", None, T0 + m * MIN), windows.get(m), new.get(m, []), watermark, lateness)
            windows[m] = step.state
            if step.point is not None:
                points.append(step.point)
        emitted.extend(points)
        alarms = state.step([], points, watermark, lateness, T0).alarms
        notified.extend(alarms)
        state = carried(state, rules)
        return points, alarms

    round_(T0 + 30_000, {0: [obs(0)] * 9, 1: [obs(1)] * 2 + [obs(1, "error")] * 2})
    points, alarms = round_(T0 + 2 * MIN, {})                 # the watermark passes minute 1's end
    assert [p.window_start_ms for p in points] == [T0, T0 + MIN]   # on time: no wait for the lateness
    assert [(a.state, a.window_start_ms) for a in alarms] == [("ALARM", T0 + MIN)]   # 2 of 4 failed
    on_time = points[1]

    # late lines within the lateness: 8 more successes for minute 1 → 2 of 12 failed, under 20 %
    points, alarms = round_(T0 + 3 * MIN, {1: [obs(1)] * 8, 2: [obs(2)] * 5})
    corrected = next(p for p in points if p.window_start_ms == T0 + MIN)
    assert corrected.doc_id() == on_time.doc_id() and corrected.values["invocations"] == 12
    assert on_time.values["invocations"] == 4
    assert [(a.state, a.previous_state) for a in alarms] == [("OK", "ALARM")]
    assert "late data" in alarms[0].reason

    # another correction that does not change the state: nothing to say
    points, alarms = round_(T0 + 4 * MIN, {1: [obs(1)]})
    assert [p.window_start_ms for p in points] == [T0 + MIN]   # corrected again (13 invocations)
    assert alarms == []

    # a real breach later: one more ALARM
    round_(T0 + 4 * MIN + 30_000, {4: [obs(4, "error")] * 3})
    round_(T0 + 5 * MIN, {})
    assert [(a.state, a.window_start_ms) for a in notified] == [
        ("ALARM", T0 + MIN), ("OK", T0 + MIN), ("ALARM", T0 + 4 * MIN)]
    assert len({a.doc_id() for a in notified}) == len(notified)
    # the last version of each point is the one a batch run over every line would make
    last = {p.doc_id(): p for p in emitted}
    assert last[on_time.doc_id()].values["invocations"] == 13


def test_a_correction_that_would_clear_and_re_raise_an_alarm_notifies_nothing():
    """3 of 5 (the default error-rate rule): raised on time; a late correction removes one of the
    breaching minutes while the next minute breaches too: the replay clears and re-raises, and
    nobody is told twice."""
    lateness, rules = 5 * MIN, default_rules()
    state = LoopState.loads(None, rules, GAP)
    series = error_series("orders-api", [0.0, 0.0, 0.5, 0.5, 0.5, 0.5])
    raised = []
    for m in range(5):
        raised += state.step([], [series[m]], T0 + (m + 1) * MIN, lateness, T0).alarms
        state = carried(state, rules)
    assert [(a.rule, a.state, a.window_start_ms) for a in raised] == [("error-rate", "ALARM", T0 + 4 * MIN)]
    fixed = MetricPoint(function_name="orders-api", window_start_ms=T0 + 2 * MIN, window_end_ms=T0 + 3 * MIN,
                        values={"invocations": 400, "errors": 20})     # the same id, corrected: 5 %
    assert fixed.doc_id() == series[2].doc_id()
    step = state.step([], [fixed, series[5]], T0 + 6 * MIN, lateness, T0)
    assert step.alarms == [] and step.late_points == 0


def test_a_replay_that_re_raises_an_alarm_at_its_original_minute_gets_a_new_document_id():
    """On time, minute 1 breaches (ALARM); a late correction clears it (OK); a second correction
    of the same minute, before the watermark moved, makes it breach again: the re-raised ALARM is
    a new transition (a new notification), so it must not share the first ALARM's document id
    (an index would overwrite the first, a notifier deduplicating by id would skip the second)."""
    lateness, rules = 3 * MIN, _one_of_one_error_rate()
    state = LoopState.loads(None, rules, GAP)

    def point(minute: int, n: int, errors: int) -> MetricPoint:
        return MetricPoint(function_name="orders", window_start_ms=T0 + minute * MIN,
                           window_end_ms=T0 + (minute + 1) * MIN, values={"invocations": n, "errors": errors})

    notified = []
    watermark = T0 + 2 * MIN
    for points in ([point(0, 10, 0), point(1, 4, 2)],    # on time: 2 of 4 failed → ALARM
                   [point(1, 12, 2)],                    # late successes: 2 of 12 → OK again
                   [point(1, 14, 4)]):                   # late failures, same minute: 4 of 14 → ALARM again
        notified += state.step([], points, watermark, lateness, T0).alarms
        state = carried(state, rules)
    assert [(a.state, a.previous_state, a.window_start_ms) for a in notified] == [
        ("ALARM", "OK", T0 + MIN), ("OK", "ALARM", T0 + MIN), ("ALARM", "OK", T0 + MIN)]
    assert "late data" in notified[2].reason
    assert len({a.doc_id() for a in notified}) == 3
    # the on-time transition keeps the id a batch run gives it
    (batch,) = [a for a in evaluate_points("orders", [point(0, 10, 0), point(1, 4, 2)], rules, T0 + 2 * MIN)
                if a.rule == "fast-errors"]
    assert batch.doc_id() == notified[0].doc_id()


def test_without_corrections_an_alarm_waits_for_the_lateness_and_sees_the_late_lines():
    """``--no-corrections``: a minute is evaluated once the watermark has passed it by the
    allowed lateness, complete: the on-time breach that late lines undo is never raised."""
    lateness, rules = 3 * MIN, _one_of_one_error_rate()
    state = LoopState.loads(None, rules, GAP)

    def point(minute: int, n: int, errors: int) -> MetricPoint:
        return MetricPoint(function_name="orders", window_start_ms=T0 + minute * MIN,
                           window_end_ms=T0 + (minute + 1) * MIN, values={"invocations": n, "errors": errors})

    told = state.step([], [point(0, 10, 0), point(1, 4, 2)], T0 + 2 * MIN, lateness, T0, corrections=False).alarms
    assert told == []                                          # on time, nothing is evaluated yet
    state = carried(state, rules)
    told = state.step([], [point(1, 12, 2), point(4, 10, 5)], T0 + 2 * MIN + lateness, lateness, T0,
                      corrections=False).alarms
    assert told == []                                          # minute 1, complete: 2 of 12, fine
    state = carried(state, rules)
    told = state.step([], [], T0 + 5 * MIN + lateness, lateness, T0, corrections=False).alarms
    assert [(a.state, a.window_start_ms) for a in told] == [("ALARM", T0 + 4 * MIN)]
    assert state.step([], [], T0 + 5 * MIN + lateness, lateness, T0).late_points == 0


def test_no_corrections_is_refused_for_the_endless_graph_in_one_line(tmp_path, capsys):
    spool = tmp_path / "spool"
    spool.mkdir()
    assert main(["run", "-q", "--streaming", "--input", str(spool), "--out", str(tmp_path / "out"),
                 "--runner", "FlinkRunner", "--no-corrections"]) == 2
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert "--no-corrections" in err and "catch-up loop" in err
