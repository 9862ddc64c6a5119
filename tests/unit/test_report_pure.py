"""The report's pure parts: reading documents back, cold-start analysis and advice, series,
alarm lanes, trace waterfalls, safe embedding, and the live-progress side channel."""

from __future__ import annotations

import json
import re

import pytest

from pipeline.cost import invocation_cost
from pipeline.model import Alarm, Invocation, Span, iso_ms
from pipeline.progress import Tracker, human_duration
from pipeline.progress_channel import ProgressMarks, ProgressTail
from pipeline.report import coldstarts
from pipeline.report.alarms import lanes, transitions
from pipeline.report.fields import infer_architecture, iso_to_ms, peak_concurrency, runtime_family
from pipeline.report.html import embed_json, render
from pipeline.report.load import RunDocs
from pipeline.report.series import concurrency_per_bucket, time_axis
from pipeline.report.traces import from_spans
from pipeline.report.views import build_report

T0 = 1714557600000


def inv(fn: str, k: int, start: int, duration: float = 100.0, cold: str = "none", init: float | None = None,
        memory: int = 512, arch: str = "x86_64", runtime: str | None = "python:3.12.v38", outcome: str = "success",
        restore: float | None = None) -> dict:
    billed = float(int(duration + (init or 0)) + 1)
    i = Invocation(fn, f"req-{fn}-{k}", log_group=f"/aws/lambda/{fn}", log_stream="s", start_ms=start,
                   end_ms=start + int(duration), duration_ms=duration, billed_duration_ms=billed, memory_size_mb=memory,
                   max_memory_used_mb=memory // 4, init_duration_ms=init, restore_duration_ms=restore,
                   cold_start_kind=cold, outcome=outcome,
                   runtime_version=runtime if cold != "none" else None,
                   estimated_cost_usd=invocation_cost(billed, memory, arch))
    return i.to_doc()


def test_iso_round_trip_and_runtime_family():
    for ms in (T0, T0 + 1, T0 + 999, 0):
        assert iso_to_ms(iso_ms(ms)) == ms
    assert runtime_family("python:3.12.v38") == "python:3.12"
    assert runtime_family("provided:al2023.v62") == "provided:al2023"
    assert runtime_family("java:21") == "java:21" and runtime_family(None) is None


def test_peak_concurrency_counts_overlaps_not_touching_ends():
    assert peak_concurrency([(0, 10), (10, 20), (20, 30)]) == 1
    assert peak_concurrency([(0, 10), (5, 20), (6, 7), (19, 30)]) == 3
    assert peak_concurrency([]) == 0


def test_concurrency_per_bucket_counts_an_invocation_in_every_bucket_it_spans():
    # buckets of 10 ms from 0: one long invocation 5..35, a short one 12..14
    assert concurrency_per_bucket([(5, 35), (12, 14)], 0, 10, 5) == [1, 2, 1, 1, 0]
    interval, t = time_axis(T0 + 1234, T0 + 600_000)
    assert interval == 10_000 and t[0] == T0 and t[-1] <= T0 + 600_000 < t[-1] + interval


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_architecture_read_back_from_the_cost(arch):
    docs = [inv("f", k, T0 + k * 1000, duration=300.0 + k, memory=1024, arch=arch) for k in range(3)]
    assert infer_architecture(docs) == arch


def _fleet_docs() -> list[dict]:
    docs = []
    # slow-python: 10 % cold, 1.2 s inits, overlapping traffic (peak 2)
    for k in range(100):
        cold = k % 10 == 0
        docs.append(inv("slow-python", k, T0 + k * 500, duration=700.0, cold="on-demand" if cold else "none",
                        init=1200.0 + k if cold else None))
    # fast-node: 1 cold start in 100: too few to advise anything
    for k in range(100):
        docs.append(inv("fast-node", k, T0 + k * 1000, cold="on-demand" if k == 0 else "none",
                        init=150.0 if k == 0 else None, runtime="nodejs:20.v22"))
    # snap-java: SnapStart already on, restores of 300 ms
    for k in range(60):
        cold = k % 6 == 0
        docs.append(inv("snap-java", k, T0 + k * 2000, cold="snapstart" if cold else "none",
                        restore=300.0 if cold else None, runtime="java:21.v27", memory=1024))
    return docs


def test_cold_start_analysis_and_advice_only_where_the_data_supports_it():
    a = coldstarts.analyze(_fleet_docs())
    rows = {r["function"]: r for r in a["functions"]}
    slow, fast, snap = rows["slow-python"], rows["fast-node"], rows["snap-java"]
    assert (slow["cold_starts"], slow["cold_start_rate"], slow["runtime"]) == (10, 0.1, "python:3.12")
    assert slow["init_p50_ms"] == 1240.0 and slow["init_p99_ms"] == 1290.0 and slow["peak_concurrency"] == 2
    kinds = {x["kind"] for x in slow["advice"]}
    assert kinds == {"provisioned-concurrency", "snapstart", "package-size"}  # python 3.12, 1.2 s inits
    assert f"${slow['provisioned_cost_per_hour_usd']:.4f}/hour" in next(
        x["text"] for x in slow["advice"] if x["kind"] == "provisioned-concurrency")
    assert fast["cold_starts"] == 1 and fast["advice"] == []
    assert snap["snapstart"] == 10 and snap["init_p50_ms"] == 300.0
    assert not {x["kind"] for x in snap["advice"]} & {"snapstart", "package-size"}
    assert sum(sum(h["counts"]) for h in a["histograms"].values()) == 21
    assert {r["runtime"]: r["cold_starts"] for r in a["by_runtime"]} == {"java:21": 10, "nodejs:20": 1, "python:3.12": 10}
    assert {r["memory_size_mb"]: r["invocations"] for r in a["by_memory"]} == {512: 200, 1024: 60}


def test_provisioned_concurrency_below_the_peak_is_called_out():
    docs = [inv("pc", k, T0 + k * 50, duration=120.0, cold="provisioned" if k < 2 else "none", init=400.0 if k < 2 else None)
            for k in range(40)]
    docs.append(inv("pc", 99, T0 + 75, duration=120.0, cold="on-demand", init=400.0))
    row = coldstarts.analyze(docs)["functions"][0]
    assert row["provisioned"] == 2 and row["on_demand"] == 1
    assert [x["kind"] for x in row["advice"]] == ["provisioned-concurrency"] and "below the peak" in row["advice"][0]["text"]


def test_alarm_lanes_close_on_ok_and_stay_open_at_the_end():
    docs = [Alarm("error-rate", "f", "ALARM", "OK", T0 + 60_000).to_doc(),
            Alarm("error-rate", "f", "OK", "ALARM", T0 + 120_000).to_doc(),
            Alarm("error-rate", "f", "ALARM", "OK", T0 + 300_000, severity="critical").to_doc()]
    lane = lanes(transitions(docs), T0 + 600_000)[0]
    assert lane["spans"] == [{"start_ms": T0 + 60_000, "end_ms": T0 + 120_000, "severity": "warning"},
                             {"start_ms": T0 + 300_000, "end_ms": T0 + 600_000, "severity": "critical", "open": True}]


def test_waterfall_orders_spans_as_a_tree_and_flags_cold_starts():
    tid = "a" * 32
    spans = [Span(tid, "1" * 16, "api", T0, T0 + 900, function_name="api").to_doc(),
             Span(tid, "2" * 16, "orders", T0 + 400, T0 + 800, parent_span_id="1" * 16, function_name="orders",
                  attributes={"faas.coldstart": True}).to_doc(),
             Span(tid, "3" * 16, "orders init", T0 + 100, T0 + 400, parent_span_id="2" * 16, kind="INTERNAL",
                  function_name="orders").to_doc(),
             Span("b" * 32, "4" * 16, "short", T0, T0 + 10).to_doc()]
    w = from_spans(spans)
    assert [t["trace_id"] for t in w] == [tid, "b" * 32]  # several spans first, then by duration
    rows = w[0]["rows"]
    assert [(r["name"], r["depth"], r["cold"], r["init"]) for r in rows] == [
        ("api", 0, False, False), ("orders", 1, True, False), ("orders init", 2, True, True)]
    assert w[0]["duration_ms"] == 900 and w[0]["cold_starts"] == 1 and rows[2]["offset_ms"] == 100


def test_page_escapes_names_and_embeds_json_safely():
    evil = "</script><script>alert(1)</script>"
    assert "<" not in embed_json({"x": evil}) and json.loads(embed_json({"x": evil})) == {"x": evil}
    docs = [inv(evil, k, T0 + k * 1000) for k in range(3)]
    page = render(build_report(RunDocs(out_dir="/tmp/x", invocations=docs,
                                       counts={"coldtrace-invocations": 3})))
    assert "<script>alert(1)" not in page
    assert len(re.findall(r"<script", page)) == 2  # the data and the drawing script, nothing else


def test_progress_marks_count_each_source_once(tmp_path):
    marks = ProgressMarks(str(tmp_path), every_s=0)
    tail = ProgressTail(str(tmp_path))
    assert tail.poll() == (0, None)
    marks.add(1000, T0 + 5, "a.ndjson")
    marks.add(500, T0 + 2, "a.ndjson")
    other = ProgressMarks(str(tmp_path), every_s=3600)  # writes only when flushed
    other.add(7, T0 + 9, "b.ndjson")
    assert tail.poll() == (1500, T0 + 5)
    again = ProgressMarks(str(tmp_path), every_s=0)  # the same file read a second time (retry, DaskRunner)
    again.add(1500, T0 + 5, "a.ndjson")
    other.close()
    with open(sorted(tmp_path.iterdir())[0], "ab") as f:
        f.write(b'{"source": "c", "events": 3')  # a mark being written is read once complete
    assert tail.poll() == (1507, T0 + 9)
    assert tail.per_source == {"a.ndjson": 1500, "b.ndjson": 7}


def test_tracker_reports_rate_watermark_and_iterator_age(tmp_path):
    now = [100.0]
    marks = ProgressMarks(str(tmp_path / "p"), every_s=0)
    tracker = Tracker(str(tmp_path), str(tmp_path / "p"), clock=lambda: now[0], wall=lambda: (T0 + 60_000) / 1000)
    tracker.poll()
    marks.add(2000, T0)
    now[0] = 102.0
    snap = tracker.poll()
    assert snap.events == 2000 and snap.events_per_s == pytest.approx(1000.0)
    assert snap.watermark_ms == T0 and snap.iterator_age_ms == 60_000
    assert snap.to_json()["watermark"] == iso_ms(T0)
    assert human_duration(60_000) == "1.0 min" and human_duration(86_400_000 * 3) == "3.0 d"
