"""The report's mergeable aggregate: however the documents are split and merged (Beam's combiner
lifting, workers, a JSON round trip), the report and the summary come out the same — and equal
to what the documents say, exactly, but for the sketch's percentiles."""

from __future__ import annotations

import math
import random

import orjson

from pipeline.model import INDEX_INVOCATIONS, INDEX_TRACES, Alarm, Invocation, MetricPoint, iso_ms
from pipeline.report.aggregates import ReportAggregate
from pipeline.report.load import RunDocs, load_run
from pipeline.report.mergeable import fsum_add
from pipeline.report.series import concurrency_per_bucket
from pipeline.report.views import build_report
from pipeline.sinks.index_files import render_chunks
from pipeline.stitch import stitch
from pipeline.summary import summarize_invocations, summarize_traces

T0 = 1714557600000


def _invocations(n: int = 400, seed: int = 3) -> list[Invocation]:
    rnd = random.Random(seed)
    out = []
    for k in range(n):
        fn = f"fn-{k % 11}"
        start = T0 + rnd.randrange(0, 20 * 60_000)
        dur = round(rnd.uniform(0.5, 3000), 2)
        cold = rnd.random() < 0.1
        out.append(Invocation(
            fn, f"r{k}", log_group=f"/aws/lambda/{fn}", log_stream=f"s{k % 37}", start_ms=start,
            end_ms=start + int(dur), duration_ms=dur, billed_duration_ms=float(int(dur) + 1),
            memory_size_mb=rnd.choice((128, 512, 1024)), max_memory_used_mb=rnd.randrange(40, 128),
            init_duration_ms=round(rnd.uniform(100, 900), 2) if cold else None,
            cold_start_kind="on-demand" if cold else "none",
            outcome=rnd.choice(("success",) * 8 + ("error", "timeout")),
            runtime_version="python:3.12.v38" if cold else None, estimated_cost_usd=rnd.uniform(1e-7, 1e-5),
            xray_trace_id=f"1-663212a0-{k // 3:024x}" if k % 2 else None))
    return out


def _aggregate(items, parts: int, seed: int) -> ReportAggregate:
    items = list(items)
    random.Random(seed).shuffle(items)
    partials = [ReportAggregate.of(items[i::parts]) for i in range(parts)]
    partials = [ReportAggregate.from_json(orjson.loads(orjson.dumps(p.to_json()))) for p in partials]
    total = partials[0]
    for p in partials[1:]:
        total.merge(p)
    return total


def _stable(data: dict) -> dict:
    data["meta"].pop("generated")
    return data


def test_split_merged_and_round_tripped_gives_the_same_report_and_summary():
    invs = _invocations()
    traces = stitch(invs)
    points = [MetricPoint("fn-1", T0 + m * 60_000, T0 + (m + 1) * 60_000,
                          values={"throttles": m % 3, "max_concurrency": m}) for m in range(15)]
    alarms = [Alarm("error-rate", "fn-2", "ALARM", "OK", T0 + 300_000, 0.5, 0.1, "x", "critical")]
    items = [*invs, *traces, *points, *alarms]
    one = ReportAggregate.of(items)
    reports, summaries = [], []
    for parts, seed in ((1, 0), (3, 1), (7, 2)):
        agg = _aggregate(items, parts, seed)
        agg.counts = {"coldtrace-metrics": len(points), "coldtrace-alarms": 1, "coldtrace-traces": 1}
        reports.append(_stable(build_report(agg)))
        summaries.append((summarize_invocations(agg), summarize_traces(agg.traces)))
    one.counts = {"coldtrace-metrics": len(points), "coldtrace-alarms": 1, "coldtrace-traces": 1}
    assert all(r == _stable(build_report(one)) for r in reports)
    assert all(s == summaries[0] for s in summaries)
    assert reports[0]["throughput"]["concurrency"]["fn-1"][0] is not None  # the metric series was read


def test_aggregate_equals_the_documents_it_was_built_from():
    invs = _invocations()
    docs = [i.to_doc() for i in invs]
    agg = ReportAggregate.of(invs)
    data = build_report(RunDocs(out_dir="x", invocations=docs, counts={}))
    by_fn = {}
    for d in docs:
        by_fn.setdefault(d["faas.name"], []).append(d)
    for row in data["functions"]:
        ds = by_fn[row["function"]]
        assert row["invocations"] == len(ds)
        assert row["failed"] == sum(d["aws.lambda.outcome"] in ("error", "timeout") for d in ds)
        assert row["duration_max_ms"] == max(d["aws.lambda.duration_ms"] for d in ds)
        s = [(i.start_ms, i.end_ms) for i in invs if i.function_name == row["function"]]
        assert row["peak_concurrency"] == max(concurrency_per_bucket(s, 0, 1 << 62, 1))
    assert sum(f.invocations for f in agg.functions.values()) == len(docs)
    # from the model objects (the pipeline) and from their documents (the files): the same figures
    from_objects = build_report(agg)
    for d in (data, from_objects):
        d["meta"].pop("generated"), d["meta"].pop("out_dir"), d.pop("traces")  # (no spans: kept only from docs)
    assert from_objects == data
    assert data["series"]["interval_ms"] == 30_000  # 20 minutes: 30 s buckets, as for the documents


def test_concurrency_sweep_matches_a_brute_force_count():
    rnd = random.Random(5)
    intervals = [(s, s + rnd.randrange(0, 50)) for s in (rnd.randrange(0, 500) for _ in range(300))]
    first, width, n = 0, 10, 55
    expected = []
    for b in range(n):
        lo, hi = first + b * width, first + (b + 1) * width
        # running at some instant t of the bucket: start <= t < end (an end frees its slot first)
        expected.append(max([sum(1 for s, e in intervals if s <= t < e) for t in range(lo, hi)]))
    got = concurrency_per_bucket(intervals, first, width, n)
    # the sweep also counts, at a bucket's first instant, what ran across its boundary
    assert all(g >= x for g, x in zip(got, expected)) and max(got) == max(expected)


def test_exact_cost_sum_does_not_depend_on_the_order():
    values = [random.Random(1).uniform(1e-9, 1e-3) for _ in range(2000)]
    a, b = [], []
    for v in values:
        fsum_add(a, v)
    for v in reversed(values):
        fsum_add(b, v)
    assert math.fsum(a) == math.fsum(b) == math.fsum(values)


def test_an_alarm_keeps_what_the_timeline_shows():
    agg = ReportAggregate.of([Alarm("rule", "fn", "ALARM", "OK", T0, 2.0, 1.0, "why").to_doc()])
    assert agg.alarms[0]["coldtrace.alarm.value"] == 2.0 and agg.alarms[0]["@timestamp"] == iso_ms(T0)


def test_files_of_an_older_run_fold_line_by_line_and_a_reemitted_trace_counts_once(tmp_path):
    invs = _invocations(60)
    traces = stitch(invs)
    indices = tmp_path / "indices"
    indices.mkdir()
    (indices / f"{INDEX_INVOCATIONS}.ndjson").write_text("\n".join(render_chunks(INDEX_INVOCATIONS, invs)) + "\n")
    first = [s for t in traces for s in t]
    late = traces[0]  # a streaming run appends a re-emitted trace's documents after the old ones
    (indices / f"{INDEX_TRACES}.ndjson").write_text(
        "\n".join(render_chunks(INDEX_TRACES, first + late)) + "\n")
    agg = load_run(str(tmp_path))
    assert agg.counts[INDEX_TRACES] == len(first) == agg.traces.spans
    assert agg.traces.traces == len(traces)
    expected = ReportAggregate.of([*invs, *traces])
    assert summarize_traces(agg.traces) == summarize_traces(expected.traces)
    assert summarize_invocations(agg) == summarize_invocations(expected)
