"""One local streaming loop per ``--out`` (pipeline/streaming/out_lock.py), with real processes:
a second holder is refused in one line naming the first; a lock left by a killed process is
taken over; ``coldtrace run --streaming`` itself refuses a second loop on a held ``--out``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from pipeline.sources.simulate import FleetConfig, encode_payload, simulate
from pipeline.streaming import out_lock
from pipeline.streaming.out_lock import LOCK_NAME, OutLocked, hold_out_lock

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
HOLDER = """
import sys
from pipeline.streaming.out_lock import hold_out_lock
with hold_out_lock(sys.argv[1]) as held:
    print("held", held.owner.pid, flush=True)
    sys.stdin.read()          # until the test closes stdin (or kills us)
"""


def holder(out: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=ROOT, env=ENV)
    line = proc.stdout.readline().split()
    assert line[:1] == ["held"], line
    return proc, int(line[1])


def wait_for_lock(out: Path, timeout_s: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            return orjson.loads((out / LOCK_NAME).read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            time.sleep(0.05)
    raise AssertionError("no loop took the lock")


def test_a_second_process_is_refused_with_the_owner_named(tmp_path):
    out = tmp_path / "out"
    proc, pid = holder(out)
    try:
        with pytest.raises(OutLocked) as info:
            with hold_out_lock(str(out)):
                pass
        assert str(info.value).startswith(f"--out {out} is held by another coldtrace loop (pid {pid} on "
                                          f"{socket.gethostname()}, since ")
        assert "\n" not in str(info.value)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    assert not (out / LOCK_NAME).exists()              # released and removed on a clean exit
    with hold_out_lock(str(out)) as held:              # and free for the next loop
        assert held.took_over is None and held.owner.pid == os.getpid()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    out = tmp_path / "out"
    proc, pid = holder(out)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert orjson.loads((out / LOCK_NAME).read_bytes())["pid"] == pid     # the file stayed behind…
    with hold_out_lock(str(out)) as held:                                # …and is taken over
        assert held.took_over is not None and held.took_over.pid == pid
        assert orjson.loads((out / LOCK_NAME).read_bytes())["pid"] == os.getpid()


def test_without_flock_a_dead_pid_is_taken_over_and_a_live_one_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(out_lock, "fcntl", None)       # the Windows path: O_EXCL and a pid check
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock = out / LOCK_NAME
    lock.write_text(orjson.dumps({"pid": int(dead.stdout), "host": socket.gethostname()}).decode())
    with hold_out_lock(str(out)) as held:
        assert held.took_over.pid == int(dead.stdout)
    live = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        lock.write_text(orjson.dumps({"pid": live.pid, "host": socket.gethostname()}).decode())
        with pytest.raises(OutLocked, match=f"pid {live.pid} on "):
            with hold_out_lock(str(out)):
                pass
    finally:
        live.stdin.close()
        live.wait(timeout=10)


def coldtrace(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", "run", "--streaming", *args]


def test_a_second_streaming_loop_on_the_same_out_refuses_in_one_line(tmp_path):
    payloads, _ = simulate(FleetConfig(seed=3, functions=2, minutes=1, invocations_per_minute=5, files=1))
    spool, out = tmp_path / "spool", tmp_path / "out"
    spool.mkdir()
    (spool / "a.ndjson").write_bytes(b"".join(orjson.dumps({"awslogs": {"data": encode_payload(p)}}) + b"\n"
                                              for p in payloads if p["messageType"] == "DATA_MESSAGE"))
    first = subprocess.Popen(coldtrace("--input", str(spool), "--out", str(out), "--poll", "0.2", "-q"), cwd=ROOT,
                             env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        owner = wait_for_lock(out)
        assert owner["pid"] == first.pid
        second = subprocess.run(coldtrace("--input", str(spool), "--out", str(out), "--max-rounds", "1", "-q"),
                                cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
        assert second.returncode == 2
        said = [line for line in second.stderr.splitlines() if "apitools not found" not in line]  # Beam's import
        assert said == [
            f"coldtrace run: --out {out} is held by another coldtrace loop (pid {first.pid} on {owner['host']}, "
            f"since {owner['since']}); stop it or choose another --out"]
    finally:
        first.send_signal(signal.SIGKILL)               # the first loop dies without releasing anything
        first.wait(timeout=30)
    third = subprocess.run(coldtrace("--input", str(spool), "--out", str(out), "--max-rounds", "1", "-q",
                                     "--no-report"), cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert third.returncode == 0, third.stderr[-2000:]   # the stale lock was taken over
    assert (out / "indices").is_dir() and not (out / LOCK_NAME).exists()
