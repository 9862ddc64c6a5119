"""What advice becomes: alarms for regressions (on in streaming, off in batch), the lines
`coldtrace run` prints, and the aggregate file the command reads first."""

from __future__ import annotations

import pytest

from pipeline.advise import AdviceAggregate, advise
from pipeline.advise.alarms import (
    advice_alarms_enabled,
    finding_alarm,
    regression_alarms,
)
from pipeline.advise.files import load_aggregate, write_aggregate
from pipeline.advise.summary_lines import print_top_findings, top_findings_lines
from pipeline.model import iso_ms
from tests.unit.test_advise import T0, fleet


def _regressed() -> AdviceAggregate:
    agg = AdviceAggregate()
    for i in (fleet("orders", 400, version="12", p_error=0.01)
              + fleet("orders", 400, version="13", p_error=0.10, median=400.0, start=T0 + 400_000)
              + fleet("big", 600, memory=1024, used=(90, 130), median=20.0)):
        agg.add(i)
    return agg


def test_a_regression_becomes_an_alarm_with_the_reason_and_the_change_time():
    found = advise(_regressed())
    alarms = regression_alarms(found)
    assert len(alarms) == 1
    [a] = alarms
    [f] = [f for f in found if f.kind == "version-regression"]
    assert (a.rule, a.function_name, a.state, a.previous_state) == ("version-regression", "orders", "ALARM", "OK")
    assert a.reason == f.evidence and iso_ms(a.time_ms) == f.details["at"] == iso_ms(T0 + 400_000)
    assert a.severity == "critical"                                   # the error rate moved
    doc = a.to_doc()
    assert doc["message"] == f.evidence and doc["rule.name"] == "version-regression"
    assert finding_alarm(next(f for f in found if f.kind == "memory")) is None
    assert regression_alarms(advise(_regressed()))[0].doc_id() == a.doc_id()   # a replay: the same alarm


def test_regression_alarms_are_on_in_streaming_and_off_in_batch_unless_told():
    assert advice_alarms_enabled("streaming") is True and advice_alarms_enabled("batch") is False
    assert advice_alarms_enabled("batch", True) is True and advice_alarms_enabled("streaming", False) is False
    with pytest.raises(ValueError, match="unknown mode"):
        advice_alarms_enabled("sometimes")


def test_run_prints_the_top_findings_from_the_aggregate_file(tmp_path, capsys):
    assert top_findings_lines(str(tmp_path)) == []                    # no run there: nothing to print
    print_top_findings(str(tmp_path))
    assert capsys.readouterr().out == ""
    write_aggregate(str(tmp_path), _regressed())
    assert load_aggregate(str(tmp_path)).aggregate.to_json() == _regressed().to_json()
    lines = top_findings_lines(str(tmp_path), n=2)
    assert lines[0].startswith("advice (") and f"coldtrace advise --from {tmp_path}" in lines[0]
    assert lines[1] == "  orders: version-regression 13 → 12"        # most urgent first
    assert len(lines) == 3 and "saves $" in lines[2]
    print_top_findings(str(tmp_path), n=2)
    assert capsys.readouterr().out == "\n".join(lines) + "\n"
