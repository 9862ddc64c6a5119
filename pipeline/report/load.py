"""A run's figures for the report and the summary: the ``ReportAggregate`` the pipeline wrote
(``<out>/aggregates/report.json``), else one folded from the local index files
(``<out>/indices/coldtrace-*.ndjson``) line by line — an older run's output, or the streaming
loop's. Either way no index is held in memory: only its aggregate (see ``aggregates``).

Logs and dead letters are only counted (the report shows no single log line). A file that is
absent is told apart from one that is empty: the report says which.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pipeline import aggregate_files
from pipeline.local_index import count_docs, index_path, last_versions, read_docs
from pipeline.model import (
    INDEX_ALARMS,
    INDEX_DEADLETTER,
    INDEX_INVOCATIONS,
    INDEX_LOGS,
    INDEX_METRICS,
    INDEX_TRACES,
)
from pipeline.report.aggregates import ReportAggregate
from pipeline.report.traces import invocation_rows

ALL_INDICES = (INDEX_LOGS, INDEX_INVOCATIONS, INDEX_TRACES, INDEX_METRICS, INDEX_ALARMS, INDEX_DEADLETTER)
AGGREGATE = "report"


@dataclass
class RunDocs:
    """Documents already in memory (tests, small runs); ``views.build_report`` takes them too."""
    out_dir: str
    invocations: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    alarms: list[dict[str, Any]] = field(default_factory=list)
    spans: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int | None] = field(default_factory=dict)  # None: no such index file


def index_file(out_dir: str, index: str) -> str:
    return index_path(out_dir, index)


def aggregate_path(out_dir: str) -> str:
    return aggregate_files.aggregate_path(out_dir, AGGREGATE)


def write_aggregate(agg: ReportAggregate, out_dir: str) -> str:
    return aggregate_files.write_aggregate(out_dir, AGGREGATE, agg.json_pieces())


def load_run(out_dir: str) -> ReportAggregate:
    """The figures of the run in ``out_dir``; FileNotFoundError when it has no invocations."""
    inv_path = index_file(out_dir, INDEX_INVOCATIONS)
    if not os.path.exists(inv_path):
        raise FileNotFoundError(f"{inv_path} not found: is {out_dir!r} the --out of a coldtrace run?")
    return load_aggregate(out_dir)


def load_aggregate(out_dir: str) -> ReportAggregate:
    """The pipeline's aggregate when it matches the index files beside it, else one folded from them."""
    counts: dict[str, int | None] = {
        index: count_docs(index_file(out_dir, index)) if os.path.exists(index_file(out_dir, index)) else None
        for index in ALL_INDICES}
    agg = _written(out_dir, counts)
    if agg is None:
        agg = fold_files(out_dir)
        if counts[INDEX_TRACES] is not None:
            counts[INDEX_TRACES] = agg.traces.spans  # re-emitted versions of a trace count once
        if counts[INDEX_METRICS] is not None:
            counts[INDEX_METRICS] = agg.metric_docs  # and so do corrected metric points
    agg.out_dir, agg.counts = out_dir, counts
    return agg


def _written(out_dir: str, counts: dict[str, int | None]) -> ReportAggregate | None:
    """The aggregate the pipeline wrote, if it is this run's: the same documents in every index it
    sums (a failed or older run's file is ignored, and the index files folded instead)."""
    agg = aggregate_files.read_aggregate(out_dir, AGGREGATE, ReportAggregate.from_json)
    if agg is None:
        return None
    seen = {INDEX_INVOCATIONS: sum(f.invocations for f in agg.functions.values()), INDEX_TRACES: agg.traces.spans,
            INDEX_METRICS: agg.metric_docs, INDEX_ALARMS: len(agg.alarms)}
    return agg if all((counts[index] or 0) == n for index, n in seen.items()) else None


def fold_files(out_dir: str) -> ReportAggregate:
    """The aggregate of the index files, each read line by line."""
    agg = ReportAggregate()
    trace_path = index_file(out_dir, INDEX_TRACES)
    if os.path.exists(trace_path):
        for spans in latest_traces(trace_path):
            agg.traces.add_trace(spans)
    for index, add, docs in ((INDEX_METRICS, agg.add_metric, last_versions), (INDEX_ALARMS, agg.add_alarm, read_docs)):
        path = index_file(out_dir, index)
        if os.path.exists(path):
            for doc in docs(path):   # a corrected metric point counts once, in its last version
                add(doc)
    inv_path = index_file(out_dir, INDEX_INVOCATIONS)
    if os.path.exists(inv_path):
        for doc in read_docs(inv_path):
            agg.add_invocation(doc)
            if not agg.traces.spans and doc.get("trace.id"):
                agg.traces.keep_invocation_rows(doc["trace.id"], invocation_rows(doc))
    return agg


def _trace_versions(path: str) -> Iterator[list[dict[str, Any]]]:
    """The span documents of a traces file, one list per run of lines of the same trace."""
    current: list[dict[str, Any]] = []
    for doc in read_docs(path):
        if current and doc.get("trace.id") != current[0].get("trace.id"):
            yield current
            current = []
        current.append(doc)
    if current:
        yield current


def latest_traces(path: str) -> Iterator[list[dict[str, Any]]]:
    """Each trace's spans once, in its last version: a streaming run appends a re-emitted trace's
    newer documents after the old ones. A trace's spans are written together; the first pass
    keeps one number per trace id (which version is the last), not its documents."""
    last: dict[str, int] = {}
    for n, spans in enumerate(_trace_versions(path)):
        last[spans[0].get("trace.id")] = n
    for n, spans in enumerate(_trace_versions(path)):
        if last[spans[0].get("trace.id")] == n:
            yield spans
