"""`coldtrace advise --from coldtrace-out` after the README's first command (`coldtrace run`, the
default simulated fleet): advice of every kind, held against the changes the simulator made."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from pipeline.advise import KINDS
from pipeline.advise.files import from_index, load_aggregate


def coldtrace(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], check=False, cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("advise")
    res = coldtrace("run", cwd=cwd)
    assert res.returncode == 0, res.stderr
    return cwd


def test_advise_after_the_default_run_gives_every_kind_of_advice(default_run):
    res = coldtrace("advise", "--from", "coldtrace-out", "--json", cwd=default_run)
    assert res.returncode == 0, res.stderr
    findings = orjson.loads(res.stdout)
    assert {f["kind"] for f in findings} == set(KINDS)
    for f in findings:
        assert {"function", "kind", "current", "recommended", "monthly_savings_usd", "evidence"} <= set(f)
    truth = orjson.loads((default_run / "coldtrace-out" / "input" / "ground_truth.json").read_bytes())
    changes = {fn: f["changes"][0] for fn, f in truth["functions"].items() if f.get("changes")}

    [deploy] = [f for f in findings if f["kind"] == "version-regression"]
    assert changes[deploy["function"]]["kind"] == "deploy"
    assert (deploy["current"], deploy["recommended"]) == (changes["search"]["to"], changes["search"]["from"])
    assert {"duration_p95_ms", "error_rate"} <= {c["metric"] for c in deploy["details"]["changes"]}
    [update] = [f for f in findings if f["kind"] == "runtime-update"]
    assert update["function"] == "inventory" and update["current"] == changes["inventory"]["to"]
    assert "error_rate" in {c["metric"] for c in update["details"]["changes"]}

    [resized] = [f for f in findings if f["kind"] == "memory" and f["function"] == "audit-log"]
    assert (resized["current"], resized["recommended"]) == (1024, 256)   # measured at both sizes
    assert resized["details"]["measured"] and resized["monthly_savings_usd"] > 0
    oom = [f for f in findings if f["kind"] == "memory" and f["function"] == "image-resize"]
    assert oom and oom[0]["recommended"] > oom[0]["current"]
    for f in findings:
        if f["kind"] == "architecture":
            assert truth["functions"][f["function"]]["architecture"] == "x86_64" and f["current"] == "x86_64"


def test_the_pipeline_writes_the_aggregate_the_index_would_give(default_run):
    out = default_run / "coldtrace-out"
    loaded = load_aggregate(str(out))
    assert loaded.source == str(out / "aggregates" / "advice.json")       # read, not rebuilt
    rebuilt = from_index(str(out / "indices" / "coldtrace-invocations.ndjson"))
    assert rebuilt.bad_lines == 0 and loaded.aggregate.to_json() == rebuilt.aggregate.to_json()


def test_a_stale_aggregate_is_not_read(default_run, tmp_path):
    out = tmp_path / "out"
    (out / "indices").mkdir(parents=True)
    index = (default_run / "coldtrace-out" / "indices" / "coldtrace-invocations.ndjson").read_bytes()
    (out / "indices" / "coldtrace-invocations.ndjson").write_bytes(b"\n".join(index.split(b"\n")[:400]) + b"\n")
    (out / "aggregates").mkdir()
    (out / "aggregates" / "advice.json").write_bytes(
        (default_run / "coldtrace-out" / "aggregates" / "advice.json").read_bytes())   # another run's
    loaded = load_aggregate(str(out))
    assert loaded.source.endswith("coldtrace-invocations.ndjson") and loaded.aggregate.invocations == 200


def test_advise_table_the_report_section_and_bad_input(default_run, tmp_path):
    res = coldtrace("advise", "--from", "coldtrace-out", cwd=default_run)
    assert res.returncode == 0 and "search: version-regression 6 → 5" in res.stdout
    page = (default_run / "coldtrace-out" / "report.html").read_text("utf-8")
    assert '<section id="advice"><h2>Advice</h2>' in page and "search: version-regression 6 → 5" in page
    missing = coldtrace("advise", "--from", "nowhere", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    out = tmp_path / "bad" / "indices"
    out.mkdir(parents=True)
    good = (default_run / "coldtrace-out" / "indices" / "coldtrace-invocations.ndjson").read_bytes()
    (out / "coldtrace-invocations.ndjson").write_bytes(good[:20_000].rsplit(b"\n", 1)[0] + b"\nnot json\n")
    res = coldtrace("advise", "--from", str(tmp_path / "bad"), "--json", cwd=tmp_path)
    assert res.returncode == 0 and "were not invocation documents" in res.stderr
    assert isinstance(orjson.loads(res.stdout), list)
