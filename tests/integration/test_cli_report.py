"""`coldtrace run` progress and report, `coldtrace report` and `coldtrace analyze-cold-starts` as a
user runs them: real processes, their output and their files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson


def coldtrace(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "200"})


def test_run_json_progress_then_summary_and_the_report(tmp_path):
    res = coldtrace("run", "--out", "out", "--events", "3000", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = [orjson.loads(line) for line in res.stdout.splitlines()]  # every stdout line is JSON
    progress = [line["progress"] for line in lines if "progress" in line]
    summary = lines[-1]
    assert progress and progress[-1]["done"] is True
    truth = orjson.loads((tmp_path / "out" / "input" / "ground_truth.json").read_bytes())
    # every event read, a payload CloudWatch delivered twice included (indexed once)
    assert progress[-1]["events"] == summary["run"]["events_read"]
    assert truth["events"] <= progress[-1]["events"] <= truth["events"] * 1.02
    assert summary["documents"]["coldtrace-logs"] == truth["events"]
    assert progress[-1]["watermark"] is not None and progress[-1]["iterator_age_ms"] > 0
    assert summary["totals"]["invocations"] == len(truth["invocations"])
    page = (tmp_path / "out" / "report.html").read_text("utf-8")
    assert 'id="report-data"' in page and "Cold starts" in page


def test_quiet_run_prints_nothing_and_no_report_skips_the_page(tmp_path):
    res = coldtrace("run", "--out", "out", "--events", "1500", "--quiet", "--no-report", cwd=tmp_path)
    assert res.returncode == 0 and res.stdout == "" and res.stderr == "", res.stderr
    assert not (tmp_path / "out" / "report.html").exists()
    assert (tmp_path / "out" / "indices" / "coldtrace-invocations.ndjson").exists()
    res = coldtrace("report", "--from", "out", "--output", "page.html", cwd=tmp_path)
    assert res.returncode == 0 and "page.html" in res.stdout
    assert (tmp_path / "page.html").stat().st_size > 10_000

    # cold starts from the index files and from the same logs folded on the spot agree
    from_index = coldtrace("analyze-cold-starts", "--from", "out", "--json", cwd=tmp_path)
    from_logs = coldtrace("analyze-cold-starts", "--input", "out/input", "--json", cwd=tmp_path)
    assert from_index.returncode == 0 and from_logs.returncode == 0, from_logs.stderr
    a, b = orjson.loads(from_index.stdout), orjson.loads(from_logs.stdout)
    keys = ("function", "invocations", "cold_starts", "cold_start_rate", "init_p50_ms", "init_p95_ms", "init_p99_ms",
            "runtime", "peak_concurrency")
    assert [{k: r[k] for k in keys} for r in a["functions"]] == [{k: r[k] for k in keys} for r in b["functions"]]
    assert sum(r["cold_starts"] for r in a["functions"]) > 0 and a["by_runtime"] == b["by_runtime"]
    table = coldtrace("analyze-cold-starts", "--from", "out", cwd=tmp_path)
    assert table.returncode == 0 and "cold starts by runtime" in table.stdout and "init p95" in table.stdout


def test_report_and_analysis_errors_are_one_line(tmp_path):
    res = coldtrace("report", "--from", "nowhere", cwd=tmp_path)
    assert res.returncode == 2 and "not found" in res.stderr and "Traceback" not in res.stderr
    res = coldtrace("analyze-cold-starts", "--input", "missing-*.gz", cwd=tmp_path)
    assert res.returncode == 2 and "no file matches" in res.stderr and "Traceback" not in res.stderr


def test_a_streaming_run_ends_with_its_report(tmp_path):
    res = coldtrace("simulate", "--out", "fleet", "--events", "1500", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = coldtrace("run", "--streaming", "--input", "fleet", "--until-caught-up", "--drain", "--poll", "0",
                    "--out", "out", "--quiet", cwd=tmp_path)
    assert res.returncode == 0 and res.stdout == "", res.stderr
    page = (tmp_path / "out" / "report.html").read_text("utf-8")
    data = orjson.loads(page.split('id="report-data">', 1)[1].split("</script>", 1)[0])
    inv = (tmp_path / "out" / "indices" / "coldtrace-invocations.ndjson").read_text().splitlines()
    assert data["totals"]["invocations"] == len(inv) // 2 > 0
