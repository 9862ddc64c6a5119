"""Index files the report reads besides invocations — metrics, alarms, traces — built from model
objects (MetricPoint, Alarm, Span) for runs whose pipeline does not write them (yet).

Only files that are missing are written, so once the pipeline produces an index its real
documents are what the report tests read.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from pipeline.model import INDEX_ALARMS, INDEX_INVOCATIONS, INDEX_METRICS, INDEX_TRACES, Alarm, MetricPoint, Span, stable_id
from pipeline.report.fields import end_ms, is_failed, start_ms
from pipeline.sinks.index_files import index_path, read_index, render_chunks

MINUTE = 60_000


def _write(out: Path, index: str, records: list) -> None:
    path = index_path(str(out), index)
    with open(path, "w", encoding="utf-8") as f:
        for chunk in render_chunks(index, records):
            f.write(chunk + "\n")


def invocation_docs(out: Path) -> list[dict]:
    return [doc for _, doc in read_index(index_path(str(out), INDEX_INVOCATIONS))]


def metric_points(docs: list[dict]) -> list[MetricPoint]:
    by_window: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for d in docs:
        s = start_ms(d)
        by_window[(d["faas.name"], s - s % MINUTE)].append(d)
    points = []
    for (fn, w), ds in sorted(by_window.items()):
        points.append(MetricPoint(fn, w, w + MINUTE, values={
            "invocations": len(ds), "errors": sum(1 for d in ds if is_failed(d)),
            "max_concurrency": 1 + len(ds) // 20}))
        points.append(MetricPoint(fn, w, w + MINUTE, source="cloudwatch", values={
            "throttles": sum(1 for d in ds if "throttle" in d.get("aws.lambda.signals", ())),
            "max_concurrency": 1 + len(ds) // 15}))
    windows = sorted({w for _, w in by_window})
    for k, w in enumerate(windows):  # the pipeline's own health: it fell behind, then caught up
        points.append(MetricPoint("coldtrace-pipeline", w, w + MINUTE, source="pipeline",
                                  values={"iterator_age_max_ms": 400 + 900 * min(k, len(windows) - 1 - k)}))
    return points


def alarms(docs: list[dict]) -> list[Alarm]:
    """error-rate alarms: ALARM in a minute with a failure, OK again in the next minute without."""
    failed: dict[str, set[int]] = defaultdict(set)
    windows = sorted({start_ms(d) - start_ms(d) % MINUTE for d in docs})
    for d in docs:
        if is_failed(d):
            failed[d["faas.name"]].add(start_ms(d) - start_ms(d) % MINUTE)
    out = []
    for fn in sorted(failed):
        state = "OK"
        for w in windows:
            bad = w in failed[fn]
            new = "ALARM" if bad else "OK"
            if new != state:
                out.append(Alarm("error-rate", fn, new, state, w + MINUTE, value=1.0 if bad else 0.0, threshold=0.5,
                                 reason=f"{fn}: failed invocations in the minute" if bad else f"{fn}: recovered",
                                 window_start_ms=w, window_end_ms=w + MINUTE))
                state = new
    return out


def spans(docs: list[dict]) -> list[Span]:
    out = []
    for d in docs:
        if not d.get("trace.id"):
            continue
        tid, rid = d["trace.id"], d["faas.execution"]
        sid = stable_id("span", rid)[:16]
        parent = stable_id("span", d["aws.lambda.parent_request_id"])[:16] if d.get("aws.lambda.parent_request_id") else None
        s, e = start_ms(d), end_ms(d)
        out.append(Span(tid, sid, d["faas.name"], s, e, parent_span_id=parent, function_name=d["faas.name"],
                        request_id=rid, status="ok" if d["aws.lambda.outcome"] == "success" else "error",
                        attributes={"faas.coldstart": d["faas.coldstart"], "faas.invocation_id": rid}))
        init = d.get("aws.lambda.init_duration_ms") if d["faas.coldstart"] else None
        if init:
            out.append(Span(tid, stable_id("init", rid)[:16], f"{d['faas.name']} init", s - int(init), s,
                            parent_span_id=sid, kind="INTERNAL", function_name=d["faas.name"], request_id=rid,
                            status="ok", attributes={"faas.coldstart": True}))
    return out


def complete_indices(out: Path) -> list[str]:
    """Write the metrics, alarms and traces index files the run lacks; returns those written."""
    docs = invocation_docs(out)
    written = []
    for index, build in ((INDEX_METRICS, metric_points), (INDEX_ALARMS, alarms), (INDEX_TRACES, spans)):
        if not os.path.exists(index_path(str(out), index)):
            _write(out, index, build(docs))
            written.append(index)
    return written
