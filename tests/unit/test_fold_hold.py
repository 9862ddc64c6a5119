"""The fold's hold for a "Task timed out" line stored after its REPORT (pipeline/invocations.py),
in the pure fold and carried between catch-up reads (pipeline/carry/fold.py).

The stream is the real one from DataDog/datadog-serverless-functions' timeout fixture (see
tests/unit/test_real_invocations.py): END, REPORT and the timeout line in one millisecond, the
timeout line last.
"""

from __future__ import annotations

import base64
import pickle

from pipeline.carry.fold import hold_due_ms, resume_fold
from pipeline.invocations import StreamFold, fold_stream
from pipeline.model import LogEvent
from pipeline.windows import DELIVERY_DELAY_MS, END_OF_TIME_MS, TIMEOUT_LINE_GRACE_MS, WINDOW_MS, window_start
from tests.unit.test_real_invocations import DD_TIMEOUT_RID, datadog_timeout_events

REPORT_MS = 1591714946151
OTHER_RID = "0f1e2d3c-4b5a-4697-8877-665544332211"


def _later(events: list[LogEvent], i: int, after_ms: int, message: str) -> LogEvent:
    base = events[0]
    return LogEvent(id=f"9{i:055d}", timestamp=REPORT_MS + after_ms, message=message, log_group=base.log_group,
                    log_stream=base.log_stream, function_name=base.function_name)


def _docs(invocations) -> list[tuple[str, dict]]:
    return [(inv.doc_id(), inv.to_doc()) for inv in invocations]


def _catch_up(rounds: list[list[LogEvent]], state: bytes | None = None):
    """Each read's watermark as the loop computes it (newest event less the delivery delay),
    then a drain."""
    out, newest = [], None
    for events in rounds:
        newest = max([newest or 0, *(ev.timestamp for ev in events)])
        step = resume_fold(state, events, newest - DELIVERY_DELAY_MS)
        out.extend(step.invocations)
        state = step.state
    step = resume_fold(state, [], END_OF_TIME_MS)
    return out + step.invocations, step.state


def test_split_across_catch_up_reads_at_any_event_gives_the_same_documents():
    events = datadog_timeout_events()
    whole = _docs(fold_stream(events))
    assert whole[0][1]["aws.lambda.outcome"] == "timeout"
    for cut in range(1, len(events)):   # cut == 3: the read ends right after the REPORT
        got, left = _catch_up([events[:cut], events[cut:]])
        assert _docs(got) == whole, f"read ends after event {cut}"
        assert left is None


def test_the_held_invocation_is_carried_in_the_state_not_emitted():
    events = datadog_timeout_events()
    first = resume_fold(None, events[:3], REPORT_MS - DELIVERY_DELAY_MS)
    assert first.invocations == [] and first.state is not None
    assert [h.target.inv.request_id for h in pickle.loads(first.state).held] == [DD_TIMEOUT_RID]
    second = resume_fold(first.state, events[3:], REPORT_MS + TIMEOUT_LINE_GRACE_MS + 1)
    assert [(i.request_id, i.outcome, i.log_count) for i in second.invocations] == [(DD_TIMEOUT_RID, "timeout", 4)]


def test_an_unrelated_later_line_releases_it_as_success():
    events = datadog_timeout_events()[:3]
    fold = StreamFold()
    assert [x for ev in events for x in fold.add(ev)] == []        # held at its REPORT
    later = _later(events, 1, 5_000, f"START RequestId: {OTHER_RID} Version: $LATEST\n")
    released = fold.add(later)
    assert [(i.request_id, i.outcome, i.error_type) for i in released] == [(DD_TIMEOUT_RID, "success", None)]
    assert not fold.held and list(fold.open) == [OTHER_RID]


def test_a_line_within_the_grace_that_is_not_its_timeout_keeps_it_held():
    events = datadog_timeout_events()[:3]
    log = _later(events, 1, 200, f"[INFO]\t2020-06-09T15:02:26.351Z\t{DD_TIMEOUT_RID}\tflushing\n")
    invocations = list(fold_stream([*events, log]))
    assert [(i.outcome, i.log_count) for i in invocations] == [("success", 3)]


def test_a_timeout_line_past_the_grace_or_for_another_request_changes_nothing():
    events = datadog_timeout_events()
    late = _later(events, 1, TIMEOUT_LINE_GRACE_MS + 1, events[3].message)
    assert [i.outcome for i in fold_stream([*events[:3], late])] == ["success"]
    nxt = _later(events, 2, 0, f"START RequestId: {OTHER_RID[:-1]}0 Version: $LATEST\n")
    other = _later(events, 3, 0, f"2020-06-09T15:02:26.150Z {OTHER_RID} Task timed out after 3.00 seconds\n\n")
    got = {i.request_id: i.outcome for i in fold_stream([*events[:3], nxt, other])}
    # the line names a third request: neither the held one nor the open one timed out
    assert got == {DD_TIMEOUT_RID: "success", OTHER_RID[:-1] + "0": "unfinished"}


def test_a_report_that_says_how_it_ended_is_not_held():
    events = datadog_timeout_events()[:2]
    status = _later(events, 1, 0, events[1].message.replace("END", "REPORT").rstrip("\n")
                    + "\tDuration: 3003.16 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 48 MB"
                    "\tStatus: timeout\n")
    fold = StreamFold()
    done = [x for ev in [*events, status] for x in fold.add(ev)]
    assert [(i.outcome, i.error_type) for i in done] == [("timeout", "Sandbox.Timedout")] and not fold.held


def test_the_catch_up_releases_it_when_its_minute_is_due_even_inside_the_grace():
    """A REPORT just before its start minute ends: the minute's point is due when the watermark
    passes the minute, and the invocation must be in it (not a correction one read later)."""
    events = datadog_timeout_events()[:3]
    minute_end = window_start(REPORT_MS) + WINDOW_MS
    shift = minute_end - 200 - REPORT_MS            # the REPORT 200 ms before its start minute ends
    shifted = [LogEvent(id=ev.id, timestamp=ev.timestamp + shift, message=ev.message,
                        log_group=ev.log_group, log_stream=ev.log_stream) for ev in events]
    assert window_start(shifted[0].timestamp) == window_start(shifted[2].timestamp)
    first = resume_fold(None, shifted, minute_end - 1)
    assert first.invocations == []
    second = resume_fold(first.state, [], minute_end)   # the minute is due: before REPORT + grace
    assert [i.outcome for i in second.invocations] == ["success"]
    report_ms = shifted[2].timestamp
    assert hold_due_ms(second.invocations[0], report_ms) == minute_end - 1 < report_ms + TIMEOUT_LINE_GRACE_MS


# A fold carried by the catch-up loop before the hold existed: INIT_START and the START of the
# Datadog request, pickled by the previous pipeline/invocations.py (commit 854baa3).
OLD_CHECKPOINT_FOLD = base64.b64decode(
    "gAWVFAQAAAAAAACMFHBpcGVsaW5lLmludm9jYXRpb25zlIwKU3RyZWFtRm9sZJSTlCmBlH2UKIwPYXJjaGl0ZWN0dXJlX29mlE6MBG9wZW6U"
    "fZSMJDdjOTU2N2I1LTEwN2ItNGE2Yy04Nzk4LTAxNTdhYzIxZGI1MpRoAIwFX09wZW6Uk5QpgZROfZQojANpbnaUjBlwaXBlbGluZS5tb2Rl"
    "bC5pbnZvY2F0aW9ulIwKSW52b2NhdGlvbpSTlCmBlE59lCiMDWZ1bmN0aW9uX25hbWWUjARyZWFslIwKcmVxdWVzdF9pZJRoCIwJbG9nX2dy"
    "b3VwlIwQL2F3cy9sYW1iZGEvcmVhbJSMCmxvZ19zdHJlYW2UjDQyMDIwLzA2LzA5L1skTEFURVNUXWIyNDk4NjVhZGFhZjRmYWQ4MGY5NWY4"
    "YWQwOTcyNWI4lIwQZnVuY3Rpb25fdmVyc2lvbpSMByRMQVRFU1SUjAtpbnN0YW5jZV9pZJROjAdhY2NvdW50lE6MBnJlZ2lvbpROjAhzdGFy"
    "dF9tc5SKBqqQmplyAYwGZW5kX21zlE6MC2R1cmF0aW9uX21zlE6MEmJpbGxlZF9kdXJhdGlvbl9tc5ROjA5tZW1vcnlfc2l6ZV9tYpROjBJt"
    "YXhfbWVtb3J5X3VzZWRfbWKUTowQaW5pdF9kdXJhdGlvbl9tc5ROjBNyZXN0b3JlX2R1cmF0aW9uX21zlE6MGmJpbGxlZF9yZXN0b3JlX2R1"
    "cmF0aW9uX21zlE6MDWluaXRfc3RhcnRfbXOUTowPcnVudGltZV92ZXJzaW9ulE6MD2NvbGRfc3RhcnRfa2luZJSMBG5vbmWUjAdvdXRjb21l"
    "lIwKdW5maW5pc2hlZJSMCmVycm9yX3R5cGWUTowNZXJyb3JfbWVzc2FnZZROjA14cmF5X3RyYWNlX2lklE6MD2NvcnJlbGF0aW9uX2lkc5Rd"
    "lIwRcGFyZW50X3JlcXVlc3RfaWSUTowJbG9nX2NvdW50lEsBjAlsb2dfYnl0ZXOUS0eMEmVzdGltYXRlZF9jb3N0X3VzZJROjAdzaWduYWxz"
    "lF2UjA9hbmNob3JfZXZlbnRfaWSUjAEylHWGlGKMCXRpbWVkX291dJSJjAxydW50aW1lX2V4aXSUiYwIb29tX3NlZW6UiYwJYXBwX2Vycm9y"
    "lIl1hpRic4wHY3VycmVudJRoCIwHcGVuZGluZ5RoAIwFX0luaXSUk5QpgZROfZQoaB+KBsKMmplyAYwEa2luZJSMBGluaXSUaCmMD3B5dGhv"
    "bjozLjEyLnYzOJSME2luaXRpYWxpemF0aW9uX3R5cGWUTmghTnWGlGKMBnJlY2VudJR9lCiMATGUTmg6TnWMB2xhc3RfbXOUigaqkJqZcgF1"
    "Yi4=")


def test_a_fold_from_a_checkpoint_written_before_the_hold_still_loads_and_holds():
    assert b"held" not in OLD_CHECKPOINT_FOLD                      # really the old shape
    old = pickle.loads(OLD_CHECKPOINT_FOLD)
    assert old.held == [] and list(old.open) == [DD_TIMEOUT_RID]
    rest = [LogEvent(id=ev.id, timestamp=ev.timestamp, message=ev.message, log_group="/aws/lambda/real",
                     log_stream=ev.log_stream, function_name="real") for ev in datadog_timeout_events()[1:]]
    first = resume_fold(OLD_CHECKPOINT_FOLD, rest[:2], REPORT_MS - DELIVERY_DELAY_MS)
    assert first.invocations == [] and first.state is not None
    second = resume_fold(first.state, rest[2:], END_OF_TIME_MS)
    assert [(i.request_id, i.outcome, i.cold_start_kind, i.init_duration_ms) for i in second.invocations] == [
        (DD_TIMEOUT_RID, "timeout", "on-demand", 127.02)]


def test_what_completes_behind_a_held_invocation_is_emitted_after_it():
    """Emission order stays completion order: a REPORT with a Status and a crash that come within
    the grace wait behind the held invocation."""
    events = datadog_timeout_events()[:3]
    b, c = OTHER_RID, OTHER_RID[:-1] + "0"
    more = [_later(events, 1, 10, f"START RequestId: {b} Version: $LATEST\n"),
            _later(events, 2, 400, f"REPORT RequestId: {b}\tDuration: 390.00 ms\tBilled Duration: 390 ms\t"
                                   "Memory Size: 128 MB\tMax Memory Used: 48 MB\tStatus: error\tError Type: Runtime.ExitError\n"),
            _later(events, 3, 500, f"START RequestId: {c} Version: $LATEST\n"),
            _later(events, 4, 600, f"START RequestId: {c[:-1]}1 Version: $LATEST\n"),   # c never reported: a crash
            _later(events, 5, 5_000, f"[INFO]\t2020-06-09T15:02:31.151Z\t{c[:-1]}1\tlater\n")]
    fold = StreamFold()
    out = [(i.request_id, i.outcome) for ev in [*events, *more] for i in fold.add(ev)]
    assert out == [(DD_TIMEOUT_RID, "success"), (b, "crash"), (c, "crash")]
    assert [i.request_id for i in fold_stream([*events, *more])] == [DD_TIMEOUT_RID, b, c, c[:-1] + "1"]
