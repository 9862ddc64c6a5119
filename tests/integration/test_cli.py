"""The ``coldtrace`` command as a user runs it: a real process, its exit code and its output."""

import os
import subprocess
import sys
from pathlib import Path

import orjson


def coldtrace(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})


def test_run_with_no_input_simulates_and_summarizes(tmp_path):
    res = coldtrace("run", "--out", "out", "--events", "4000", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "per function" in res.stdout and "invocations" in res.stdout
    assert "Traceback" not in res.stderr
    summary = orjson.loads((tmp_path / "out" / "summary.json").read_bytes())
    truth = orjson.loads((tmp_path / "out" / "input" / "ground_truth.json").read_bytes())
    assert summary["totals"]["invocations"] == len(truth["invocations"]) > 0
    for index in ("coldtrace-logs", "coldtrace-invocations", "coldtrace-deadletter"):
        assert (tmp_path / "out" / "indices" / f"{index}.ndjson").exists()


def test_json_summary_on_stdout(tmp_path):
    res = coldtrace("run", "--out", "out", "--events", "2000", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    last = [line for line in res.stdout.splitlines() if line.startswith("{")][-1]
    assert orjson.loads(last)["totals"]["invocations"] > 0


def test_bad_input_and_options_give_one_line_errors(tmp_path):
    res = coldtrace("run", "--input", str(tmp_path / "missing-*.ndjson"), cwd=tmp_path)
    assert res.returncode == 2 and "no file matches" in res.stderr and "Traceback" not in res.stderr
    res = coldtrace("run", "--architecture", "orders", cwd=tmp_path)
    assert res.returncode == 2 and "FUNCTION=x86_64" in res.stderr


def test_corrupt_input_file_is_counted_not_fatal(tmp_path):
    (tmp_path / "garbage.ndjson.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    (tmp_path / "text.ndjson").write_text("hello\n")
    res = coldtrace("run", "--input", str(tmp_path / "garbage.ndjson.gz"), "--input", str(tmp_path / "text.ndjson"),
                    "--out", "out", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "could not be processed" in res.stdout and "Traceback" not in res.stderr
    dead = (tmp_path / "out" / "indices" / "coldtrace-deadletter.ndjson").read_text().splitlines()
    assert len(dead) == 4  # two dead letters: action + document each


def test_help_explains_every_option(tmp_path):
    res = coldtrace("run", "--help", cwd=tmp_path)
    assert res.returncode == 0
    for opt in ("--input", "--out", "--runner", "--dask-address", "--region", "--architecture", "--quiet"):
        assert opt in res.stdout


def test_two_worker_processes_run_quietly_and_agree(tmp_path):
    """--workers 2 starts worker processes (pipeline.beam_worker): --quiet stays silent, and the
    documents are those of a one-worker run."""
    two = coldtrace("run", "--out", "two", "--events", "3000", "--workers", "2", "--quiet", "--no-report", cwd=tmp_path)
    assert two.returncode == 0, two.stderr
    assert two.stdout == "" and two.stderr == ""
    one = coldtrace("run", "--out", "one", "--events", "3000", "--workers", "1", "--quiet", "--no-report", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    for index in ("coldtrace-logs", "coldtrace-invocations", "coldtrace-traces"):
        lines = [sorted((tmp_path / run / "indices" / f"{index}.ndjson").read_bytes().splitlines()) for run in ("one", "two")]
        assert lines[0] == lines[1] and lines[0], index
