"""Every ordinary mistake ends in one clear line on stderr and a non-zero exit: no traceback,
no library's log lines (they appear only with --verbose). Each case is a real ``coldtrace``
process, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _no_aws_env() -> dict[str, str]:
    """No credentials anywhere boto3 looks: environment, files, instance metadata."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_CONFIG_FILE="/dev/null",
               AWS_EC2_METADATA_DISABLED="true")
    return env


def coldtrace(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = dict(env or os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**env, "COLUMNS": "200"})


def _files(tmp: Path) -> None:
    (tmp / "broken.yaml").write_text("rules: [\n  - bad: {\n")
    (tmp / "fine.ndjson").write_text("")


# (case, argv, what the one line must say, exit status)
MISUSES = [
    ("unknown runner", ["run", "--runner", "nosuch", "--events", "500"], "--runner 'nosuch'", 2),
    ("unreachable Elasticsearch", ["run", "--events", "500", "--es-url", "http://127.0.0.1:1"],
     "cannot reach Elasticsearch at http://127.0.0.1:1", 2),
    ("unreachable dask scheduler", ["run", "--events", "500", "--runner", "dask", "--dask-address",
                                    "tcp://127.0.0.1:1"], "no dask scheduler answers at tcp://127.0.0.1:1", 1),
    ("no AWS credentials", ["run", "--input", "kinesis://S", "--region", "R"], "no AWS credentials", 1),
    ("broken rules YAML", ["run", "--events", "500", "--rules", "broken.yaml"],
     "broken.yaml: line 2, column 3: not valid YAML", 2),
    ("missing rules file", ["run", "--events", "500", "--rules", "nofile.yaml"], "nofile.yaml: cannot read", 2),
    ("missing input file", ["run", "--input", "nofile.ndjson"], "no file matches --input", 2),
    ("unreachable Kibana", ["kibana-import", "--kibana-url", "http://127.0.0.1:1"], "http://127.0.0.1:1", 2),
    ("unknown command", ["nosuch"], "invalid choice: 'nosuch'", 2),
    ("not a number", ["run", "--events", "abc"], "--events: invalid int value: 'abc'", 2),
    ("a negative size", ["run", "--events", "-5"], "--events -5: expected a number above 0", 2),
    ("zero workers", ["run", "--workers", "0"], "--workers", 2),
    ("a bad architecture", ["run", "--input", "fine.ndjson", "--architecture", "f=sparc"], "FUNCTION=x86_64", 2),
    ("es-setup unreachable", ["es-setup", "--es-url", "http://127.0.0.1:1"], "cannot reach Elasticsearch", 2),
    ("report of nothing", ["report", "--from", "nowhere"], "nowhere", None),
]


@pytest.mark.parametrize("case,argv,says,status", MISUSES, ids=[m[0] for m in MISUSES])
def test_a_misuse_is_one_line(tmp_path, case, argv, says, status):
    _files(tmp_path)
    res = coldtrace(*argv, cwd=tmp_path, env=_no_aws_env())
    lines = res.stderr.splitlines()
    assert res.returncode != 0, (case, res.stdout, res.stderr)
    if status is not None:
        assert res.returncode == status, (case, res.returncode, res.stderr)
    assert len(lines) == 1, (case, res.stderr)
    assert "Traceback" not in res.stderr
    assert lines[0].startswith("coldtrace"), lines[0]
    assert says in lines[0], (says, lines[0])


def test_verbose_shows_the_traceback_and_the_libraries(tmp_path):
    res = coldtrace("run", "--verbose", "--runner", "nosuch", "--events", "500", cwd=tmp_path)
    assert res.returncode == 2
    assert "Traceback" in res.stderr and res.stderr.splitlines()[-1].startswith("coldtrace run: --runner")


def test_dask_without_an_address_starts_a_local_cluster_and_writes_what_fnapi_writes(tmp_path):
    pytest.importorskip("distributed")
    dask = coldtrace("run", "--runner", "dask", "--out", "dask", "--events", "2000", "--no-report", cwd=tmp_path)
    assert dask.returncode == 0, dask.stderr
    assert "started a local dask cluster" in dask.stdout.splitlines()[0]
    assert "Traceback" not in dask.stderr and "distributed" not in dask.stderr and "WARNING" not in dask.stderr
    fnapi = coldtrace("run", "--out", "fnapi", "--events", "2000", "--no-report", cwd=tmp_path)
    assert fnapi.returncode == 0, fnapi.stderr
    names = sorted(p.name for p in (tmp_path / "fnapi" / "indices").glob("*.ndjson"))
    assert names == sorted(p.name for p in (tmp_path / "dask" / "indices").glob("*.ndjson")) and len(names) >= 6
    for name in names:
        a = sorted((tmp_path / "fnapi" / "indices" / name).read_bytes().splitlines())
        b = sorted((tmp_path / "dask" / "indices" / name).read_bytes().splitlines())
        assert a == b, name
    invocations = (tmp_path / "dask" / "indices" / "coldtrace-invocations.ndjson").read_bytes()
    assert invocations.count(b"\n") > 100
