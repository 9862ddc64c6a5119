"""Pure parts of streaming: shard lineage and cursors, the tracker, the watermark, carried
folds and windows, health minutes, checkpoints, source URIs and record decoding."""

from __future__ import annotations

import base64
import gzip
import pickle
from datetime import datetime, timezone

import orjson
import pytest
from botocore.exceptions import ClientError

from pipeline.carry.fold import resume_fold
from pipeline.carry.windows import resume_window
from pipeline.detect.health import age_point, fold_minutes
from pipeline.detect.observation import Observation
from pipeline.metrics import WindowFigures
from pipeline.model import LogEvent, MetricPoint
from pipeline.sources.cloudwatch import parse_cloudwatch_uri
from pipeline.sources.cloudwatch_api import LAMBDA_METRICS, metric_queries, time_slices
from pipeline.sources.file_watch import watch_pattern
from pipeline.sources.kinesis import KinesisRestriction, KinesisTracker
from pipeline.sources.kinesis_reader import ArrivalWatermark, Page, decode_records
from pipeline.sources.kinesis_shards import (
    Backoff,
    Cursor,
    Shard,
    StartPosition,
    call_with_backoff,
    children_of,
    initial_cursors,
    parse_time_ms,
    resume_cursors,
)
from pipeline.sources.simulate import encode_payload
from pipeline.streaming.checkpoint import Checkpoint, load, save
from pipeline.streaming.config import source_kind

T0 = 1714557600000
TH = StartPosition("TRIM_HORIZON")

# A split of 0 into 2 and 3, then a merge of 3 and 1 into 4; shard 5 is a root whose parent aged out.
SHARDS = [Shard("s0", ending_seq="9"), Shard("s1", ending_seq="7"), Shard("s2", parent="s0"),
          Shard("s3", parent="s0", ending_seq="5"), Shard("s4", parent="s3", adjacent_parent="s1"),
          Shard("s5", parent="gone")]


def test_start_positions_parse_and_refuse_nonsense():
    assert StartPosition.parse("latest") == StartPosition("LATEST")
    assert StartPosition.parse("trim-horizon") == TH
    assert StartPosition.parse("at_timestamp:2024-05-01T10:00:00Z") == StartPosition("AT_TIMESTAMP", T0)
    assert StartPosition.parse(f"at_timestamp:{T0}").timestamp_ms == T0
    assert parse_time_ms("2024-05-01T12:00:00+02:00") == T0
    for bad in ("sometime", "latest:5", "at_timestamp", "at_timestamp:yesterday"):
        with pytest.raises(ValueError):
            StartPosition.parse(bad)
    assert StartPosition("LATEST").for_children() == TH
    assert StartPosition("AT_TIMESTAMP", T0).for_children() == StartPosition("AT_TIMESTAMP", T0)


def test_each_shard_is_followed_from_exactly_one_lineage():
    roots = initial_cursors(SHARDS, TH)
    assert [c.shard_id for c in roots] == ["s0", "s1", "s5"]
    assert [c.shard_id for c in initial_cursors(SHARDS, StartPosition("LATEST"))] == ["s2", "s4", "s5"]
    assert [c.shard_id for c in children_of(SHARDS, "s0", TH)] == ["s2", "s3"]
    assert [c.shard_id for c in children_of(SHARDS, "s3", TH)] == ["s4"]   # the merge child: once,
    assert children_of(SHARDS, "s1", TH) == []                              # not from its adjacent parent
    reached, todo = set(), [c.shard_id for c in roots]
    while todo:
        sid = todo.pop()
        assert sid not in reached
        reached.add(sid)
        todo.extend(c.shard_id for c in children_of(SHARDS, sid, TH))
    assert reached == {s.id for s in SHARDS}


def test_resume_cursors_keep_the_checkpoint_and_add_children_of_finished_shards():
    saved = [Cursor("s2", after="12"), Cursor("s1", after="3")]
    cursors = resume_cursors(SHARDS, saved, ["s0", "s3"], TH)
    assert cursors[:2] == saved
    assert [c.shard_id for c in cursors[2:]] == ["s4"]       # s3 ended after its children were listed
    assert [c.shard_id for c in resume_cursors(SHARDS, [], [], TH)] == ["s0", "s1", "s5"]


def test_cursor_iterator_arguments_and_json():
    assert Cursor("s0", after="42").iterator_args() == {
        "ShardId": "s0", "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": "42"}
    args = Cursor("s0", start=StartPosition("AT_TIMESTAMP", T0)).iterator_args()
    assert args["ShardIteratorType"] == "AT_TIMESTAMP" and args["Timestamp"].timestamp() * 1000 == T0
    for c in (Cursor("s0", after="42", start=TH), Cursor("s1", start=StartPosition("AT_TIMESTAMP", T0))):
        assert Cursor.from_json(orjson.loads(orjson.dumps(c.to_json()))) == c


def _throttle() -> ClientError:
    return ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                       "GetRecords")


def test_backoff_retries_throttling_only_and_grows():
    calls, slept = [], []

    def flaky(**kw):
        calls.append(kw)
        if len(calls) < 4:
            raise _throttle()
        return "ok"
    assert call_with_backoff(flaky, Backoff(base_ms=100, cap_ms=10_000), slept.append, x=1) == "ok"
    assert len(calls) == 4 and len(slept) == 3 and all(c == {"x": 1} for c in calls)
    b = Backoff(base_ms=100, cap_ms=1000)
    assert max(b.delay_s(10) for _ in range(200)) <= 1.0
    with pytest.raises(ClientError, match="AccessDenied"):
        call_with_backoff(lambda: (_ for _ in ()).throw(ClientError({"Error": {"Code": "AccessDenied"}}, "X")),
                          Backoff(), slept.append)


def test_tracker_claims_checkpoints_and_splits_by_shard():
    t = KinesisTracker(KinesisRestriction((Cursor("a", start=TH), Cursor("b", start=TH), Cursor("c", start=TH))))
    assert t.try_claim(("record", "a", "5")) and t.try_claim(("record", "a", "7"))
    assert t.try_claim(("end", "c", (Cursor("c1", start=TH),)))
    primary, residual = t.try_split(0.5)              # dynamic split: hand half the shards over
    assert [c.shard_id for c in residual.cursors] == ["b", "c1"]
    assert not t.try_claim(("record", "b", "1"))       # given away: the reader must stop it
    with pytest.raises(ValueError, match="neither read"):
        t.check_done()
    assert t.try_split(0.5) is None                    # one shard is read in order, never split
    primary, residual = t.try_split(0)                 # checkpoint: resume "a" after 7
    assert residual.cursors == (Cursor("a", after="7", start=TH),) and primary.cursors == ()
    t.check_done()
    assert not t.is_bounded() and KinesisTracker(KinesisRestriction((), bounded=True)).is_bounded()


def _page(shard: str, at_tip: bool, called: int) -> Page:
    return Page(shard, [], None if at_tip else 1000, at_tip=at_tip, ended=False, called_ms=called)


def test_arrival_watermark_is_the_lowest_shard_less_the_delay_and_never_goes_back():
    w = ArrivalWatermark(delay_ms=60_000)
    w.track("a")
    w.track("b")
    w.observe(_page("a", False, T0), T0 + 5_000)
    assert w.advance() is None                         # b has no mark yet
    w.observe(_page("b", True, T0 + 9_000), None)      # b caught up when called at +9 s
    assert w.advance() == T0 + 5_000 - 60_000
    w.observe(_page("a", False, T0), T0 + 20_000)
    assert w.advance() == T0 + 9_000 - 60_000
    w.drop("b")
    w.track("c", T0 - 100_000)                         # a child starting from an older mark
    assert w.advance() == T0 + 9_000 - 60_000           # held, not moved back


def ev(i: int, at: int, msg: str) -> LogEvent:
    return LogEvent(id=str(10**6 + i), timestamp=T0 + at, message=msg, log_group="/aws/lambda/orders",
                    log_stream="2024/05/01/[$LATEST]abc", function_name="orders", function_version="$LATEST")


RID = "00000000-0000-4000-8000-000000000001"
REPORT = f"REPORT RequestId: {RID}\tDuration: 10.0 ms\tBilled Duration: 10 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\t\n"


def test_a_carried_fold_continues_across_reads_and_drops_redeliveries():
    first = resume_fold(None, [ev(1, 0, "INIT_START Runtime Version: python:3.12.v38\tRuntime Version ARN: x\n"),
                               ev(2, 300, f"START RequestId: {RID} Version: $LATEST\n")], watermark_ms=T0)
    assert first.invocations == [] and first.state is not None and len(first.fresh) == 2
    second = resume_fold(first.state, [ev(2, 300, f"START RequestId: {RID} Version: $LATEST\n"),   # re-delivered
                                       ev(3, 400, REPORT)], watermark_ms=T0 + 2_000)  # past the hold
    assert [(i.request_id, i.outcome, i.cold_start_kind) for i in second.invocations] == [(RID, "success", "on-demand")]
    assert second.duplicates == 1 and [e.id for e in second.fresh] == [str(10**6 + 3)]
    assert pickle.loads(second.state).recent                      # still remembers what it saw


def test_a_silent_stream_is_flushed_by_the_watermark():
    open_ = resume_fold(None, [ev(1, 0, f"START RequestId: {RID} Version: $LATEST\n")], watermark_ms=T0)
    kept = resume_fold(open_.state, [], watermark_ms=T0 + 10 * 60_000)
    assert kept.invocations == [] and kept.state is not None
    flushed = resume_fold(open_.state, [], watermark_ms=T0 + 16 * 60_000)
    assert [(i.request_id, i.outcome) for i in flushed.invocations] == [(RID, "unfinished")]
    assert flushed.state is None


def obs(minute: int, outcome: str = "success") -> Observation:
    return Observation(function_name="orders", window_start_ms=T0 + minute * 60_000, outcome=outcome, duration_ms=5.0)


def test_a_carried_window_is_emitted_on_time_then_corrected_then_dropped():
    key = ("orders", None, T0)
    lateness, correction = 120_000, 600_000
    opened = resume_window(key, None, [obs(0)], T0 + 30_000, lateness, correction)
    assert opened.point is None and opened.state       # before its end: open
    on_time = resume_window(key, opened.state, [], T0 + 60_000, lateness, correction)
    assert on_time.point.values["invocations"] == 1 and not on_time.corrected and on_time.state
    late = resume_window(key, on_time.state, [obs(0, "error")], T0 + 150_000, lateness, correction)
    assert late.corrected and late.point.doc_id() == on_time.point.doc_id()   # within the lateness
    assert late.point.values["invocations"] == 2 and late.point.values["errors"] == 1
    quiet = resume_window(key, late.state, [], T0 + 200_000, lateness, correction)
    assert quiet.point is None and quiet.state         # nothing new, nothing again
    crash = resume_window(key, quiet.state, [obs(0, "crash")], T0 + 300_000, lateness, correction)
    assert crash.corrected and crash.point.doc_id() == on_time.point.doc_id()
    assert crash.point.values["invocations"] == 3 and crash.point.values["crashes"] == 1
    expired = resume_window(key, crash.state, [], T0 + 60_000 + lateness + correction, lateness, correction)
    assert expired.point is None and expired.state is None
    dropped = resume_window(key, None, [obs(0)], T0 + 60_000 + lateness + correction, lateness, correction)
    assert dropped.point is None and dropped.state is None and dropped.late == 1


def test_a_window_carried_by_an_older_checkpoint_still_loads():
    """Before corrections, the carried state was the bare figures (never emitted)."""
    key = ("orders", None, T0)
    old = pickle.dumps(WindowFigures().add(obs(0)))
    step = resume_window(key, old, [], T0 + 181_000, 120_000)
    assert step.point.values["invocations"] == 1 and not step.corrected


def read_obs(ended_ms: int, age: int) -> MetricPoint:
    """What the reader emits per read: the read's span and its iterator age."""
    return MetricPoint("coldtrace-pipeline", ended_ms - 500, ended_ms, source="pipeline",
                       values={"iterator_age_max_ms": age})


def test_health_minutes_take_the_maximum_and_close_when_over():
    opened, points = fold_minutes({}, [read_obs(T0 + 1_000, 10), read_obs(T0 + 20_000, 250),
                                       read_obs(T0 + 65_000, 5)], now_ms=T0 + 70_000)
    assert [(p.window_start_ms, p.window_end_ms, p.values["iterator_age_max_ms"]) for p in points] == [
        (T0, T0 + 60_000, 250)]
    assert points[0].function_name == "coldtrace-pipeline" and points[0].source == "pipeline"
    assert opened == {str(T0 + 60_000): {"iterator_age_max_ms": 5}}
    opened, points = fold_minutes(opened, [read_obs(T0 + 90_000, 7)], now_ms=T0 + 121_000)
    assert opened == {} and [p.values["iterator_age_max_ms"] for p in points] == [7]
    assert age_point(T0, 3).doc_id() != age_point(T0 + 60_000, 3).doc_id()


def test_health_minutes_fold_the_delivery_delay_beside_the_age_and_read_old_checkpoints():
    with_delay = MetricPoint("coldtrace-pipeline", T0 + 500, T0 + 1_000, source="pipeline",
                             values={"iterator_age_max_ms": 40, "delivery_delay_ms": 5_000})
    later = MetricPoint("coldtrace-pipeline", T0 + 9_500, T0 + 10_000, source="pipeline",
                        values={"iterator_age_max_ms": 900, "delivery_delay_ms": 3_100})
    # a checkpoint written before the delay was measured: a bare iterator age per open minute
    opened, points = fold_minutes({str(T0): 1_200}, [with_delay, later], now_ms=T0 + 60_000)
    assert opened == {} and [p.values for p in points] == [{"iterator_age_max_ms": 1_200, "delivery_delay_ms": 5_000}]
    assert points[0].doc_id() == age_point(T0, 0).doc_id()   # one document per minute, both figures
    assert points[0].to_doc()["aws.lambda.metrics.delivery_delay_ms"] == 5_000


def test_checkpoint_round_trips_and_belongs_to_one_source(tmp_path):
    ck = Checkpoint(source="kinesis://s", round=3, watermark_ms=T0, cursors=[Cursor("a", after="9", start=TH)],
                    finished=["x"], marks={"a": T0}, health={str(T0): 5})
    path = str(tmp_path / "ck" / "checkpoint.json")
    save(path, ck)
    assert load(path, "kinesis://s") == ck
    with pytest.raises(ValueError, match="belongs to"):
        load(path, "kinesis://other")
    assert load(str(tmp_path / "none.json"), "kinesis://s") == Checkpoint(source="kinesis://s")


def test_source_uris():
    assert source_kind("kinesis://ingress") == "kinesis" and source_kind("s3://b/p") == "files"
    assert source_kind("cloudwatch:///aws/lambda/x") == "cloudwatch" and source_kind("spool/") == "files"
    with pytest.raises(ValueError):
        source_kind("kinesis://")
    assert parse_cloudwatch_uri("cloudwatch:///aws/lambda/orders?start=2024-05-01T10:00:00Z&end=" + str(T0 + 1)) == (
        "/aws/lambda/orders", T0, T0 + 1)
    assert parse_cloudwatch_uri("cloudwatch://aws/lambda/*?start=-15m", now_ms=T0) == ("/aws/lambda/*", T0 - 900_000, None)
    for bad in ("cloudwatch://?start=1", "cloudwatch:///x?since=1", f"cloudwatch:///x?start={T0}&end={T0}"):
        with pytest.raises(ValueError):
            parse_cloudwatch_uri(bad)
    assert watch_pattern("s3://bucket/spool/") == "s3://bucket/spool/**"
    assert watch_pattern("s3://bucket/firehose/2024") == "s3://bucket/firehose/2024**"
    assert watch_pattern("logs/*.gz") == "logs/*.gz"


def test_cloudwatch_queries_and_slices():
    assert time_slices(0, 10, 3) == [(0, 3), (3, 7), (7, 10)] and time_slices(0, 2, 8) == [(0, 1), (1, 2)]
    queries = metric_queries(["a", "b"])
    assert len(queries) == 2 * len(LAMBDA_METRICS) and len({q["Id"] for q in queries}) == len(queries)
    assert {q["MetricStat"]["Stat"] for q in queries} <= {"Sum", "Maximum"}   # no percentiles


def test_records_decode_in_every_shipped_shape_and_bad_ones_become_dead_letters():
    line = LogEvent(id="1", timestamp=T0, message="hello\n", log_group="/aws/lambda/orders",
                    log_stream="2024/05/01/[$LATEST]abc").to_record()
    payload = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/orders",
               "logStream": "2024/05/01/[$LATEST]abc", "subscriptionFilters": ["f"],
               "logEvents": [{"id": "2", "timestamp": T0 + 1, "message": "world\n"}]}

    arrived = datetime.fromtimestamp((T0 + 5000) / 1000, tz=timezone.utc)
    records = [{"SequenceNumber": "1", "Data": orjson.dumps(line) + b"\n", "ApproximateArrivalTimestamp": arrived},
               {"SequenceNumber": "2", "Data": gzip.compress(orjson.dumps(line) + b"\n"), "ApproximateArrivalTimestamp": arrived},
               {"SequenceNumber": "3", "Data": base64.b64decode(encode_payload(payload)), "ApproximateArrivalTimestamp": arrived},
               {"SequenceNumber": "4", "Data": b"\x1f\x8b not gzip", "ApproximateArrivalTimestamp": arrived}]
    out = decode_records(records, "kinesis://s/shard-0", region="eu-west-1")
    assert out.records == 4 and out.events == 3 and len(out.batches) == 1
    assert sorted(e.id for e in out.batches[0]) == ["1", "1", "2"]
    assert all(e.arrival_ms == T0 + 5000 for e in out.batches[0])
    assert len(out.dead) == 1 and out.dead[0].source.endswith("/4")
    assert out.oldest_arrival_ms == out.newest_arrival_ms == T0 + 5000
