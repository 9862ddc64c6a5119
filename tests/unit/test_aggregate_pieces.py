"""Aggregates written piece by piece (``aggregate_files.Pieces``): the file is byte for byte the
``orjson.dumps`` of the whole JSON form, and each piece is made only when its turn comes."""

from __future__ import annotations

import io

import orjson

from pipeline.advise import AdviceAggregate
from pipeline.advise.files import write_aggregate as write_advice
from pipeline.aggregate_files import Pieces, aggregate_path, drain, read_aggregate, whole, write_pieces
from pipeline.report.aggregates import ReportAggregate
from pipeline.report.load import write_aggregate as write_report
from tests.unit.test_advise import fleet
from tests.unit.test_report_aggregates import _invocations


def _bytes(value) -> bytes:
    f = io.BytesIO()
    write_pieces(f, value)
    return f.getvalue()


def test_pieces_write_what_orjson_writes_of_the_whole():
    value = Pieces([("a", 1), ("b", Pieces([])), ("c", lambda: {"x": [1.5, None, "é\n"]}),
                    ("d", Pieces((k, lambda k=k: k * 2) for k in ("p", "q"))), ("e", {"nested": {"k": True}})])
    assert whole(value) == {"a": 1, "b": {}, "c": {"x": [1.5, None, "é\n"]}, "d": {"p": "pp", "q": "qq"},
                            "e": {"nested": {"k": True}}}
    assert _bytes(value) == orjson.dumps(whole(value))
    assert _bytes(Pieces([])) == b"{}" and _bytes([1, 2]) == b"[1,2]"


def test_each_piece_is_made_after_the_ones_before_it_are_written():
    f = io.BytesIO()
    made_at: list[int] = []

    def piece(n):
        def make():
            made_at.append(len(f.getvalue()))
            return "v" * n
        return make

    write_pieces(f, Pieces([("k1", piece(100)), ("k2", piece(100)), ("k3", Pieces([("k4", piece(5))]))]))
    out = f.getvalue()
    assert orjson.loads(out) == {"k1": "v" * 100, "k2": "v" * 100, "k3": {"k4": "vvvvv"}}
    # each made just when the bytes before its value were written, not before
    assert made_at == [out.index(b'"v'), out.index(b'"v', out.index(b'"k2"')), out.index(b'"v', out.index(b'"k4"'))]


def test_the_aggregate_files_are_the_whole_json_form(tmp_path):
    report = ReportAggregate.of(_invocations(600))
    advice = AdviceAggregate()
    for inv in fleet("orders", 300) + fleet("big", 200, memory=1024, used=(90, 130)):
        advice.add(inv)
    report_path, advice_path = write_report(report, str(tmp_path)), write_advice(str(tmp_path), advice)
    with open(report_path, "rb") as f:
        assert f.read() == orjson.dumps(report.to_json())
    with open(advice_path, "rb") as f:
        assert f.read() == orjson.dumps(advice.to_json())
    assert len(report.to_json()["buckets"]["durations"]) == 11 and len(advice.to_json()["functions"]) == 2


def test_an_aggregate_read_back_is_built_as_its_json_form_is_taken_apart(tmp_path):
    d = {"b": 1, "a": {"x": 2}, "c": 3}
    assert list(drain(d)) == [("b", 1), ("a", {"x": 2}), ("c", 3)] and d == {}
    report = ReportAggregate.of(_invocations(300))
    write_report(report, str(tmp_path))
    back = read_aggregate(str(tmp_path), "report", ReportAggregate.from_json)
    assert orjson.dumps(back.to_json()) == orjson.dumps(report.to_json())
    assert list(back.functions) == list(report.functions)   # in the order written
    with open(aggregate_path(str(tmp_path), "report"), "wb") as f:
        f.write(b'{"version": 1, "lo": ')  # cut short: no aggregate, the caller folds the index files
    assert read_aggregate(str(tmp_path), "report", ReportAggregate.from_json) is None
