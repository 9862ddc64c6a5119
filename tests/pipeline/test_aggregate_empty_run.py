"""A run with no invocation at all: the aggregates' combines have no default (a default would be
a side-input copy of the whole aggregate in one worker), yet the user sees what an empty
aggregate gives — the report's aggregate is still written (an empty one is merged in), the
advice's is not, and every reader folds the (empty) invocations index instead."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from pipeline.advise import AdviceAggregate, advise
from pipeline.advise.files import aggregate_path as advice_path
from pipeline.advise.files import load_aggregate as load_advice
from pipeline.advise.files import write_aggregate as write_advice
from pipeline.cli import main
from pipeline.local_index import index_path
from pipeline.model import INDEX_INVOCATIONS
from pipeline.report.aggregates import ReportAggregate
from pipeline.report.load import aggregate_path as report_path


def coldtrace_run(*args: str, cwd: Path) -> None:
    """``coldtrace run`` as a user runs it: a process of its own (its workers too)."""
    res = subprocess.run([sys.executable, "-m", "pipeline.cli", "run", *args], cwd=cwd, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr


def coldtrace(capsys, *args: str) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out


def _seen(capsys, out: Path) -> dict[str, str]:
    """What a user reads of a finished run: the advice (text and JSON), the summary, the report."""
    summary = orjson.loads((out / "summary.json").read_bytes())
    summary["run"].pop("elapsed_s")
    coldtrace(capsys, "report", "--from", str(out), "-o", str(out.parent / "again.html"), "--quiet")
    html = (out.parent / "again.html").read_text().replace(str(out), "OUT")
    html = re.sub(r'(Generated |"generated":"|"start":"|"end":"|<p>)\d{4}-\d\d-\d\dT[\d:.]+Z( → [\d:.TZ-]+)?', r"\1T",
                  html)
    html = re.sub(r'"advice":\{"source":"[^"]*"', '"advice":{"source":"S"', html)  # which file the figures came from
    html = re.sub(r'"t":\[\d+\]', '"t":[T]', html)                                  # the axis starts at the clock
    return {"advise": coldtrace(capsys, "advise", "--from", str(out)),
            "advise --json": coldtrace(capsys, "advise", "--from", str(out), "--json"),
            "summary": orjson.dumps(summary, option=orjson.OPT_SORT_KEYS).decode(), "report": html}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_empty_run_reads_as_an_empty_aggregate_would(tmp_path, capsys, workers):
    (tmp_path / "empty.ndjson").write_bytes(b"")
    coldtrace_run("--input", "empty.ndjson", "--out", "out", "--workers", workers, "--quiet", cwd=tmp_path)
    out = tmp_path / "out"

    # the report's aggregate: written, the empty one
    assert orjson.loads(Path(report_path(str(out))).read_bytes()) == ReportAggregate().to_json()
    # the advice's: not written; read back, it is the empty index folded
    assert not os.path.exists(advice_path(str(out)))
    assert os.path.getsize(index_path(str(out), INDEX_INVOCATIONS)) == 0
    loaded = load_advice(str(out))
    assert loaded.source == index_path(str(out), INDEX_INVOCATIONS)
    assert loaded.aggregate.to_json() == AdviceAggregate().to_json() and advise(loaded.aggregate) == []

    seen = _seen(capsys, out)
    assert "no advice: nothing in this run supports a change" in seen["advise"]
    assert orjson.loads(seen["advise --json"]) == []
    assert orjson.loads(seen["summary"])["totals"]["invocations"] == 0

    # What an earlier coldtrace wrote for the same run (the empty advice aggregate) reads the same.
    before = tmp_path / "before"
    before.mkdir()
    shutil.copytree(out, before / "out")
    write_advice(str(before / "out"), AdviceAggregate())
    assert load_advice(str(before / "out")).source == advice_path(str(before / "out"))
    assert _seen(capsys, before / "out") == seen
