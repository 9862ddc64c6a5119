"""The measured-delay watermark (pipeline/sources/delivery_delay.py) and where it is used: the
reader's ``ArrivalWatermark``, the catch-up loop's checkpoint (old checkpoints still load), the
``coldtrace-pipeline`` health point."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import orjson
from apache_beam.utils.timestamp import Timestamp

from pipeline.model import LogEvent
from pipeline.run import RunConfig
from pipeline.sources.delivery_delay import (
    FLOOR_MS,
    MIN_DELAYS,
    RECENT_MS,
    DelayWindow,
    hold_back_ms,
    shard_hold_ms,
    watermark_ms,
)
from pipeline.sources.kinesis import ArrivalWatermarkEstimator, ShardProgress, iterator_age_point
from pipeline.sources.kinesis_reader import ArrivalWatermark, Page, decode_records
from pipeline.sources.kinesis_shards import Cursor, StartPosition
from pipeline.sources.simulate import encode_payload
from pipeline.streaming.checkpoint import Checkpoint
from pipeline.streaming.config import StreamConfig
from pipeline.streaming.round_sources import KinesisRounds

T0 = 1714557600000
CEILING = 60_000
TH = StartPosition("TRIM_HORIZON")


def window(delays_ms: list[int], arrival_ms: int = T0) -> DelayWindow:
    w = DelayWindow()
    for d in delays_ms:
        w.observe(arrival_ms, [arrival_ms - d])
    return w


def test_the_hold_is_the_observed_delay_within_the_floor_and_the_configured_ceiling():
    assert hold_back_ms(None, CEILING) == CEILING               # nothing measured: the configured delay
    assert hold_back_ms(12_345.2, CEILING) == 12_346            # rounded up: never less than measured
    assert hold_back_ms(80.0, CEILING) == FLOOR_MS              # a fast pipeline: the floor
    assert hold_back_ms(250_000.0, CEILING) == CEILING          # slower than allowed: bounded
    assert hold_back_ms(3_000.0, 0) == 0                        # --delivery-delay 0: no hold at all


def test_a_shard_is_held_back_by_the_p99_of_its_recent_delays():
    w = window([1_000] * 98 + [9_000, 40_000])
    assert 9_000 <= w.quantile() <= 9_000 * 1.02               # p99 of 100: the 99th value, never under it
    assert 9_000 <= shard_hold_ms(w, CEILING) <= 9_180
    assert window([30_000] * (MIN_DELAYS - 1)).quantile() is None   # too few to trust
    assert shard_hold_ms(window([30_000] * (MIN_DELAYS - 1)), CEILING) == CEILING
    assert shard_hold_ms(None, CEILING) == CEILING
    late = DelayWindow()
    late.observe(T0, [T0 + 2_000] * MIN_DELAYS)                  # lines stamped after arrival (clock skew)
    assert late.quantile() == 0 and shard_hold_ms(late, CEILING) == FLOOR_MS


def test_old_minutes_leave_the_window_by_arrival_time_not_by_the_clock():
    w = window([50_000] * 100, arrival_ms=T0)
    assert shard_hold_ms(w, CEILING) >= 50_000
    w.observe(T0 + RECENT_MS - 60_000, [T0 + RECENT_MS - 61_000] * 100)   # 1 s, nine minutes later
    assert shard_hold_ms(w, CEILING) >= 50_000                  # both minutes count
    w.observe(T0 + RECENT_MS, [T0 + RECENT_MS - 1_000] * 100)   # ten minutes later: the slow minute is gone
    assert shard_hold_ms(w, CEILING) == FLOOR_MS and min(w.minutes) > T0


def test_delay_windows_round_trip_as_json_and_merge():
    w = window([2_000] * 30 + [7_000] * 10)
    again = DelayWindow.from_json(orjson.loads(orjson.dumps(w.to_json())))
    assert again == w and again.quantile() == w.quantile()
    both = DelayWindow().merge(w).merge(window([7_000] * 40))
    assert both.count() == 80 and both.quantile(0.5) > w.quantile(0.5)
    assert w.count() == 40                                       # merging copies, never aliases
    assert DelayWindow.from_json(None).count() == 0


def test_the_watermark_is_the_lowest_held_back_mark():
    assert watermark_ms({"a": T0, "b": T0 + 10_000}, {"a": 5_000, "b": 30_000}) == T0 - 20_000
    assert watermark_ms({"a": T0, "b": None}, {"a": 5_000, "b": 5_000}) is None
    assert watermark_ms({}, {}) is None


def _page(shard: str, at_tip: bool, called: int) -> Page:
    return Page(shard, [], None if at_tip else 1000, at_tip=at_tip, ended=False, called_ms=called)


def test_arrival_watermark_trails_a_healthy_shard_by_seconds_and_a_slow_one_by_what_it_needs():
    w = ArrivalWatermark(delay_ms=CEILING)
    w.track("fast")
    w.track("slow")
    w.observe(_page("fast", True, T0), None)
    w.observe(_page("slow", True, T0), None)
    assert w.advance() == T0 - CEILING                           # nothing measured yet: the configured delay
    for _ in range(50):
        w.window("fast").observe(T0, [T0 - 300])
        w.window("slow").observe(T0, [T0 - 20_000])
    w.observe(_page("fast", True, T0 + 1_000), None)
    w.observe(_page("slow", True, T0 + 1_000), None)
    assert T0 + 1_000 - 20_500 <= w.advance() <= T0 + 1_000 - 20_000   # the slow shard holds it back
    assert w.hold_ms("fast") == FLOOR_MS
    delays = w.drop("slow")
    assert w.advance() == T0 + 1_000 - FLOOR_MS                   # only the fast shard: seconds behind
    w.track("child", T0 + 1_000, delays)                          # a child starts from its parent's delays
    assert w.hold_ms("child") >= 20_000 and w.delays["child"] is not delays
    assert w.advance() == T0 + 1_000 - FLOOR_MS                   # never goes back


def test_decoding_a_record_measures_its_lines_delays_from_the_records_arrival():
    arrived = T0 + 4_000
    payload = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/orders",
               "logStream": "2024/05/01/[$LATEST]abc", "subscriptionFilters": ["f"],
               "logEvents": [{"id": str(i), "timestamp": T0 + 100 * i, "message": f"line {i}\n"} for i in range(30)]}
    # the forwarder's own arrival stamp on a line does not count: the record's arrival does
    stamped = LogEvent(id="x", timestamp=T0, message="hi\n", log_group="/aws/lambda/orders",
                       log_stream="2024/05/01/[$LATEST]abc", arrival_ms=T0 + 1).to_record()
    records = [{"SequenceNumber": "1", "Data": base64.b64decode(encode_payload(payload)),
                "ApproximateArrivalTimestamp": datetime.fromtimestamp(arrived / 1000, tz=timezone.utc)},
               {"SequenceNumber": "2", "Data": orjson.dumps(stamped) + b"\n",
                "ApproximateArrivalTimestamp": datetime.fromtimestamp(arrived / 1000, tz=timezone.utc)}]
    w = DelayWindow()
    out = decode_records(records, "kinesis://s/shard-0", delays=w)
    assert out.events == 31 and w.count() == 31
    assert w.quantile(1.0) == 4_000 and 1_100 <= w.quantile(0.0) <= 1_100 * 1.02


def _rounds(ceiling: int = CEILING) -> KinesisRounds:
    return KinesisRounds(StreamConfig("kinesis://s", RunConfig(inputs=[]), delivery_delay_ms=ceiling))


def test_the_catch_up_loop_carries_the_delays_and_holds_the_watermark_back_by_them():
    rounds = _rounds()
    ck = Checkpoint(source="kinesis://s")
    fast = window([400] * 100, T0)
    progress = [ShardProgress("a", Cursor("a", after="5", start=TH), False, T0, records=3, delays=fast.to_json()),
                ShardProgress("b", Cursor("b", after="2", start=TH), False, T0 + 2_000, records=1)]
    assert rounds.commit(ck, None, progress, None)
    assert ck.watermark_ms == T0 + 2_000 - CEILING               # b measured nothing: the configured delay
    assert ck.delays == {"a": fast.to_json()}
    plan = rounds.plan(ck)
    assert plan.delays == ck.delays                              # the next read continues from them
    progress = [ShardProgress("a", Cursor("a", after="6", start=TH), False, T0 + 5_000, delays=fast.to_json()),
                ShardProgress("b", Cursor("b", after="3", start=TH), False, T0 + 5_000,
                              delays=window([900] * 100, T0).to_json())]
    rounds.commit(ck, None, progress, None)
    assert ck.watermark_ms == T0 + 5_000 - FLOOR_MS              # both healthy: seconds behind
    rounds.commit(ck, None, [ShardProgress("b", None, True, None)], None)
    assert "b" not in ck.delays and ck.finished == ["b"]


def test_a_checkpoint_written_before_delays_were_measured_still_loads_and_advances():
    old = {"source": "kinesis://s", "round": 4, "watermark_ms": T0 - 120_000,
           "cursors": [{"shard": "a", "after": "9", "start": "trim_horizon"}], "finished": [], "marks": {"a": T0 - 60_000},
           "seen_files": {}, "until_ms": None, "state_files": [], "functions": [], "metrics_until_ms": None,
           "health": {str(T0): 1_500}, "pending": None, "totals": {}, "version": 1}
    ck = Checkpoint.from_json(orjson.dumps(old))
    assert ck.delays == {} and ck.health == {str(T0): 1_500}
    assert _rounds().plan(ck).delays == {}
    _rounds().commit(ck, None, [ShardProgress("a", Cursor("a", after="10", start=TH), False, T0)], None)
    assert ck.watermark_ms == T0 - CEILING                        # as before: the configured delay


def test_the_estimator_state_keeps_the_measured_delays_across_a_resume():
    est = ArrivalWatermarkEstimator((None, {"a": window([3_000] * 40).to_json()}))
    assert est.current_watermark() is None and est.delays["a"].count() == 40
    est.set_watermark(Timestamp(micros=T0 * 1000))
    est.set_watermark(Timestamp(micros=(T0 - 5) * 1000))          # never back
    resumed = ArrivalWatermarkEstimator(est.get_estimator_state())
    assert resumed.current_watermark() == Timestamp(micros=T0 * 1000) and resumed.delays == est.delays
    assert ArrivalWatermarkEstimator(None).delays == {}


def test_the_health_point_carries_the_delay_beside_the_iterator_age():
    point = iterator_age_point(T0 / 1000, (T0 + 2_000) / 1000, T0 - 3_000, 5_000).value
    assert point.values == {"iterator_age_max_ms": 5_000, "delivery_delay_ms": 5_000}
    assert point.function_name == "coldtrace-pipeline" and point.source == "pipeline"
    assert "delivery_delay_ms" not in iterator_age_point(T0 / 1000, T0 / 1000, None).value.values
