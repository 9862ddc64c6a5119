"""The one definition of the graph after the source (see ``docs/architecture.md``)::

    source ─▶ Fold ─▶ logs, invocations, fold dead letters           (the mode's shell)
              invocations ─▶ Traces                                   (the mode's shell)
              invocations ─▶ Advice: the advice aggregate            (the mode's shell)
              invocations + logs + dead letters ─▶ Detect ─▶ Windows  (the mode's shell)
                  + the source's own metric points ─▶ AllMetricPoints ─▶ Alarms (the mode's shell)
                  + regressions (``--advice-alarms``) ─▶ NotifyAlarms (failed deliveries: dead letters)
    every index ─▶ WriteIndices: local index files, Elasticsearch, OTLP

Adding an index, a metric or an alarm input is a change here, and every mode has it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam

from pipeline.model import INDEX_ALARMS, INDEX_DEADLETTER, INDEX_INVOCATIONS, INDEX_LOGS, INDEX_METRICS, INDEX_TRACES
from pipeline.sinks.alarms import NotifyAlarms
from pipeline.sinks.elasticsearch import WriteToElasticsearch
from pipeline.sinks.index_files import RenderDocs, WriteIndexFile, render_bulk
from pipeline.sinks.otel import ExportSpans
from pipeline.transforms.detect import Detect, events_of


@dataclass
class SourceOut:
    """What a mode's source gives the graph."""

    batches: Any                                     # lists of LogEvents
    dead: list = field(default_factory=list)         # PCollections of DeadLetters (read, metric files)
    points: list = field(default_factory=list)       # PCollections of MetricPoints (metric files, CloudWatch, health)


@dataclass
class Sinks:
    out_dir: str                 # local index files: <out_dir>/indices/.shards (joined after the run)
    es: Any = None               # pipeline.sinks.es_client.EsSettings: the same documents into Elasticsearch
    otlp: Any = None             # pipeline.sinks.otel.OtlpSettings: the trace spans to a collector
    notify: Any = None           # pipeline.sinks.alarms.AlarmSettings: alarm transitions to SNS, a webhook, stdout
    advice_alarms: bool = False  # regression findings as alarms too (pipeline.advise.alarms)


@dataclass
class Graph:
    """The graph's PCollections by meaning (None: this mode makes it outside Beam)."""

    logs: Any
    invocations: Any
    traces: Any
    points: Any
    alarms: Any
    dead: Any
    advice: Any = None                           # the advice aggregate(s), as the mode keeps them
    written: list = field(default_factory=list)  # every sink's output: join them last (DaskRunner)

    def indices(self) -> dict[str, Any]:
        return {INDEX_LOGS: self.logs, INDEX_INVOCATIONS: self.invocations, INDEX_TRACES: self.traces,
                INDEX_METRICS: self.points, INDEX_ALARMS: self.alarms, INDEX_DEADLETTER: self.dead}

    def finish(self, extra: list = ()) -> None:
        """Beam's DaskRunner computes only the graph behind the last transform applied: join
        every sink there, so all of them run on every runner."""
        [*self.written, *extra] | "AllSinksWritten" >> beam.Flatten()


def _flatten(pcolls: list, label: str, p: beam.Pipeline):
    pcolls = [pc for pc in pcolls if pc is not None]
    if not pcolls:
        return p | f"No{label}" >> beam.Create([])
    return pcolls | label >> beam.Flatten()


def assemble(p: beam.Pipeline, source: SourceOut, shell, sinks: Sinks) -> Graph:
    """Wire everything after the source; labels read like the architecture picture."""
    folded = shell.fold(source.batches)
    dead = _flatten([*source.dead, folded.dead], "DeadLetters", p)
    traces = shell.traces(folded.invocations)
    observations = (folded.invocations, folded.logs, dead) | "Detect" >> Detect()
    points = _flatten([shell.windows(tuple(observations)), *source.points], "AllMetricPoints", p)
    alarms = shell.alarms(points)
    advice = shell.advice(folded.invocations, sinks.advice_alarms)
    if advice.alarms is not None:   # a regression finding alarms like a rule does
        alarms = (alarms, advice.alarms) | "AllAlarms" >> beam.Flatten()
    if alarms is not None and sinks.notify is not None and sinks.notify.enabled:
        dead = (dead, alarms | "NotifyAlarms" >> NotifyAlarms(sinks.notify)) | "AllDeadLetters" >> beam.Flatten()
    graph = Graph(folded.logs, folded.invocations, traces, points, alarms, dead, advice.aggregate)
    graph.written = write_indices(graph, sinks)
    return graph


_LABELS = {INDEX_LOGS: "Logs", INDEX_INVOCATIONS: "Invocations", INDEX_TRACES: "Traces", INDEX_METRICS: "Metrics",
           INDEX_ALARMS: "Alarms", INDEX_DEADLETTER: "DeadLetters"}


def _log_docs(logs):
    return render_bulk(INDEX_LOGS, events_of(logs))


def write_indices(graph: Graph, sinks: Sinks) -> list:
    """Every index the graph has → its local index file (and Elasticsearch, and OTLP spans)."""
    written = []
    for index, pcoll in graph.indices().items():
        if pcoll is None:
            continue
        name = _LABELS[index]
        docs = (pcoll | f"{name}Docs" >> beam.FlatMap(_log_docs) if index == INDEX_LOGS
                else pcoll | f"{name}Docs" >> RenderDocs(index))
        written.append(docs | f"Write{name}" >> WriteIndexFile(sinks.out_dir, index))
    if sinks.es is not None:  # the same documents, the same ids
        for index, pcoll in graph.indices().items():
            if pcoll is None:
                continue
            if index == INDEX_LOGS:
                pcoll = pcoll | "LogBatches" >> beam.Map(events_of)
            written.append(pcoll | f"Index{_LABELS[index]}" >> WriteToElasticsearch(sinks.es, index))
    if sinks.otlp is not None and graph.traces is not None:
        written.append(graph.traces | "ExportSpans" >> ExportSpans(sinks.otlp))
    return written
