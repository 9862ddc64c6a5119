"""Shared fixtures: real servers on loopback, started once per test session.

- ``moto_endpoint``: moto in server mode (a real local AWS endpoint boto3 talks HTTP to).
- ``es_url``: ``ES_URL`` when set (a real Elasticsearch), else an osmem-server (in-memory,
  OpenSearch-compatible) started here.
- ``sim_fleet``: a small simulated fleet written once (payload files + ground truth).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline import spill
from pipeline.sources.simulate import FleetConfig, write_fleet

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except Exception as exc:  # not up yet
            last = exc
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s: {last}")


@pytest.fixture(scope="session")
def aws_env() -> dict[str, str]:
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-west-1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def moto_endpoint(aws_env) -> str:
    """URL of a moto server on 127.0.0.1 (started for this test session)."""
    exe = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    yield from _moto_process([exe])


def _moto_process(command: list[str]):
    """Start a moto server command on a free loopback port, yield its URL, stop it after."""
    port = free_port()
    proc = subprocess.Popen([*command, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/moto-api/")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _moto_reset(url: str) -> str:
    req = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=10).read()
    return url


@pytest.fixture()
def moto_reset(moto_endpoint) -> str:
    """A moto server with no resources left from earlier tests."""
    return _moto_reset(moto_endpoint)


@pytest.fixture(scope="session")
def es_url() -> str:
    """A running ES-API server: ``ES_URL`` if set, else an in-memory osmem-server."""
    if os.environ.get("ES_URL"):
        yield os.environ["ES_URL"]
        return
    osmem_server = pytest.importorskip("osmem_server")
    server = osmem_server.OsmemServer.start(japanese=False)
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture(scope="session")
def sim_fleet(tmp_path_factory) -> tuple[Path, dict]:
    """A small deterministic fleet: (directory of payload files, ground truth)."""
    out = tmp_path_factory.mktemp("fleet")
    truth = write_fleet(out, FleetConfig(seed=11, functions=8, minutes=6, invocations_per_minute=30, files=3))
    return out, truth


@pytest.fixture(scope="session")
def moto_kinesis_server(aws_env) -> str:
    """moto's server with AWS's Kinesis resharding semantics (tests/integration/moto_kinesis_server.py)."""
    yield from _moto_process([sys.executable, str(ROOT / "tests" / "integration" / "moto_kinesis_server.py")])


@pytest.fixture()
def moto_kinesis(moto_kinesis_server) -> str:
    """That server, with no resources left from earlier tests."""
    return _moto_reset(moto_kinesis_server)


@pytest.fixture()
def spill_files(monkeypatch) -> list:
    """Every ``pipeline.spill.SpillFile`` made while the test runs (in this process: FnApiRunner's side)."""
    files: list = []
    real = spill.SpillFile

    def counting():
        files.append(real())
        return files[-1]

    monkeypatch.setattr(spill, "SpillFile", counting)
    return files
