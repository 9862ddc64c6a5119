"""The stitch ships only the fields it reads (pipeline.transforms.stitch_traces.pack): every
span, trace key and segment key is the same from the shipped row as from the whole invocation."""

import dataclasses
import pickle

from pipeline.model import Invocation
from pipeline.stitch import stitch, trace_keys, trace_spans
from pipeline.stitch.keys import segment_key
from pipeline.transforms.stitch_traces import STITCH_FIELDS, pack, unpack
from tests.unit.test_stitch import T0, X1, X2, chain, inv

# Every field the stitch does not ship, set to something no default is.
ELSEWHERE = {"billed_duration_ms": 901.0, "max_memory_used_mb": 77, "billed_restore_duration_ms": 33.0,
             "runtime_version": "python:3.12.v36", "error_message": "boom: a long message " * 20,
             "log_count": 41, "log_bytes": 9000, "estimated_cost_usd": 1.25e-6,
             "signals": ["timeout", "oom"], "anchor_event_id": "3" * 56}


def rich() -> list[Invocation]:
    return [dataclasses.replace(i, **ELSEWHERE, instance_id=f"i-{i.request_id}", error_type="Boom")
            for i in chain() + [inv("java", "r-j", 1000, xray=X1, cold="snapstart", restore_duration_ms=400.0,
                                    init_start_ms=T0 + 500),
                                inv("prov", "r-p", 1000, xray=X2, cold="provisioned", init=300.0,
                                    outcome="error")]]


def _docs(traces):
    return [[(s.doc_id(), s.to_doc()) for s in spans] for spans in traces]


def test_the_fields_left_out_are_only_those_the_stitch_never_reads():
    assert set(STITCH_FIELDS) | set(ELSEWHERE) == set(Invocation.__slots__)
    assert not set(STITCH_FIELDS) & set(ELSEWHERE)


def test_spans_and_keys_are_the_same_from_the_shipped_rows():
    whole = rich()
    shipped = [unpack(pack(i)) for i in whole]
    assert all(s.error_message is None and s.signals == [] for s in shipped)   # left out...
    assert _docs(stitch(shipped)) == _docs(stitch(whole))                       # ...and not missed
    assert [(s.doc_id(), s.to_doc()) for s in trace_spans(shipped)] == [(s.doc_id(), s.to_doc()) for s in trace_spans(whole)]
    assert [sorted(trace_keys(i)) for i in shipped] == [sorted(trace_keys(i)) for i in whole]
    assert [segment_key(i) for i in shipped] == [segment_key(i) for i in whole]


def test_a_row_is_smaller_than_the_whole_invocation():
    whole = rich()[0]
    assert len(pack(whole)) < len(pickle.dumps(tuple(getattr(whole, f) for f in Invocation.__slots__), 5)) - 500


def test_a_row_of_every_field_kept_by_an_older_coldtrace_still_reads_whole():
    """Streaming stitch state written before the rows were cut down holds every field in slot order."""
    whole = rich()
    old_rows = [pickle.dumps(tuple(getattr(i, f) for f in Invocation.__slots__), 5) for i in whole]
    assert [unpack(r) for r in old_rows] == whole
