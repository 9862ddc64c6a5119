"""The wheel works where there is no checkout: built from the sources pyproject.toml declares,
installed into a fresh virtualenv in a temporary directory, then ``coldtrace es-setup`` and
``coldtrace run --es-url`` are run from there against the ES-API test server (osmem-server).

Fast on purpose: the new virtualenv has no pip and takes coldtrace's dependencies from the
running environment's site-packages (a plain path line, so that environment's editable
install of coldtrace is *not* seen); the wheel itself is installed with ``--no-deps`` and
coldtrace is then imported from the new environment only — which the test checks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.integration.es_support import count, refresh, reset_coldtrace

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.packaging


def _pip(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          check=True, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """bin/ of a fresh virtualenv holding the wheel built from this checkout."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"  # only what the build declares: a file read from elsewhere fails here
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("pipeline", "forwarder", "dashboards"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    try:
        _pip("wheel", "-q", "--no-deps", "-w", str(work / "dist"), str(src), cwd=work)
    except subprocess.CalledProcessError as exc:  # no setuptools to build with (no network, no cache)
        pytest.fail(f"pip wheel failed:\n{exc.stderr[-3000:]}")
    (wheel,) = (work / "dist").glob("coldtrace-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    env_bin = venv / "bin"
    # The wheel first, into the bare environment: with the shared packages visible, pip would
    # find the running environment's coldtrace (same version) and install nothing.
    _pip("--python", str(env_bin / "python"), "install", "-q", "--no-deps", "--no-index", str(wheel),
         cwd=work, env=_env())
    assert (env_bin / "coldtrace").exists(), "the wheel's console script was not installed"
    site = Path(subprocess.run([env_bin / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True, env=_env()).stdout.strip())
    (site / "shared-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_bin


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _run(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(installed / "coldtrace"), *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=300)


def test_coldtrace_comes_from_the_wheel(installed, tmp_path):
    probe = ("import json, dashboards, pipeline, pipeline.report.html as h; "
             "from pipeline.kibana import saved_object_files; "
             "print(json.dumps([pipeline.__file__, dashboards.__file__, len(saved_object_files()), "
             "len(h._asset('report.js'))]))")
    res = subprocess.run([installed / "python", "-c", probe], cwd=tmp_path, env=_env(), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    pipeline_file, dashboards_file, kibana_files, js = json.loads(out.splitlines()[-1])
    site = str(installed.parent)
    assert pipeline_file.startswith(site) and dashboards_file.startswith(site), (pipeline_file, dashboards_file)
    assert not pipeline_file.startswith(str(ROOT))
    assert kibana_files >= 8 and js > 1000
    check = _pip("--python", str(installed / "python"), "check", cwd=tmp_path, env=_env())
    assert "No broken requirements" in check.stdout  # every Requires-Dist of the wheel is satisfied


def test_es_setup_and_run_from_the_wheel(installed, tmp_path, es_url):
    reset_coldtrace(es_url)
    setup = _run(installed, tmp_path, "es-setup", "--es-url", es_url)
    assert setup.returncode == 0, setup.stderr
    assert "index templates: " in setup.stdout and "coldtrace-invocations" in setup.stdout
    run = _run(installed, tmp_path, "run", "--out", "out", "--events", "3000", "--es-url", es_url)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (tmp_path / "out" / "report.html").stat().st_size > 10_000  # report assets shipped
    refresh(es_url)
    assert count(es_url, "coldtrace-invocations") == summary["documents"]["coldtrace-invocations"] > 0
