"""The Beam shell of the sink: records, batches of records and (action, document) pairs read
back from local index files all land once, and the counters come back through Beam metrics."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.model import INDEX_INVOCATIONS, INDEX_LOGS, Invocation, LogEvent
from pipeline.sinks.elasticsearch import WriteToElasticsearch, es_counters
from pipeline.sinks.es_client import EsSettings, resolved
from pipeline.sinks.es_setup import setup

from .es_support import count, ids, refresh, reset_coldtrace

FNAPI = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
T0 = 1714557600000


def _events(n: int) -> list[LogEvent]:
    return [LogEvent(id=str(i), timestamp=T0 + i, message=f"line {i}", log_group="/aws/lambda/a",
                     log_stream="s", function_name="a") for i in range(n)]


def _run(settings: EsSettings, events, invocations, pairs):
    p = beam.Pipeline(options=PipelineOptions([f"--runner={FNAPI}"]))
    written = [
        p | "Batches" >> beam.Create([events[:60], events[60:]]) | "Logs" >> WriteToElasticsearch(settings, INDEX_LOGS),
        p | "Invocations" >> beam.Create(invocations) | "Inv" >> WriteToElasticsearch(settings, INDEX_INVOCATIONS),
        p | "Pairs" >> beam.Create(pairs) | "FromFiles" >> WriteToElasticsearch(settings, ""),
    ]
    written | beam.Flatten()
    result = p.run()
    result.wait_until_finish()
    return es_counters(result)


def test_records_batches_and_pairs_land_once(es_url):
    reset_coldtrace(es_url)
    settings = resolved(EsSettings(url=es_url))
    setup(settings)
    events = _events(100)
    invocations = [Invocation(function_name="a", request_id=f"r{i}", start_ms=T0 + i) for i in range(30)]
    extra = _events(120)[100:]  # as es-load reads them: (action, document)
    pairs = [({"create": {"_index": INDEX_LOGS, "_id": ev.doc_id()}}, ev.to_doc()) for ev in extra]
    first = _run(settings, events, invocations, pairs)
    refresh(es_url)
    assert count(es_url, INDEX_LOGS) == 120 and count(es_url, INDEX_INVOCATIONS) == 30
    assert sorted(ids(es_url, INDEX_LOGS)) == sorted(ev.doc_id() for ev in events + extra)
    assert first["indexed"] == 150 and first["already_indexed"] == 0
    again = _run(settings, events, invocations, pairs)
    refresh(es_url)
    assert count(es_url, INDEX_LOGS) == 120
    assert again["indexed"] == 0 and again["already_indexed"] == 150
