"""One local streaming loop per ``--out``: a lock file in the output directory holding the owner's
pid and host. Pure stdlib.

Two loops on one ``--out`` would both read everything and append the same documents twice, and
fight over one checkpoint. The second one refuses with one line naming the first. The lock is an
advisory ``flock`` on ``<out>/.coldtrace-loop.lock``: the kernel releases it when its process
dies, however it dies, so a lock left by a killed loop is stale by construction and the next loop
takes it over (the file's old owner is reported). Where ``fcntl`` is missing (Windows) the file is
created exclusively and a lock whose pid is dead on this host is taken over.
"""

from __future__ import annotations

import json
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from pipeline.errors import UsageError

try:
    import fcntl
except ImportError:  # Windows: pid-based fallback below
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".coldtrace-loop.lock"


class OutLocked(UsageError):
    """Another live loop holds the output directory (printed as one line, exit code 2)."""


@dataclass(frozen=True)
class Owner:
    pid: int
    host: str
    since: str = ""

    @classmethod
    def parse(cls, text: str) -> "Owner | None":
        try:
            d = json.loads(text)
            return cls(int(d["pid"]), str(d["host"]), str(d.get("since", "")))
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}" + (f", since {self.since}" if self.since else "")


@dataclass(frozen=True)
class Held:
    path: str
    owner: Owner
    took_over: Owner | None      # the stale owner whose lock was taken over, if any


def _me() -> Owner:
    return Owner(os.getpid(), socket.gethostname(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def _refusal(out_dir: str, owner: Owner | None) -> OutLocked:
    who = owner.describe() if owner else "a process that has not written its pid yet"
    return OutLocked(f"--out {out_dir} is held by another coldtrace loop ({who}); "
                     "stop it or choose another --out")


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 4096).decode("utf-8", "replace")


def _write(fd: int, owner: Owner) -> None:
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": owner.pid, "host": owner.host, "since": owner.since}).encode())
    os.fsync(fd)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True   # someone else's process, alive
    except OSError:
        return False
    return True


@contextmanager
def hold_out_lock(out_dir: str) -> Iterator[Held]:
    """Hold ``out_dir`` for this process while the block runs; ``OutLocked`` if a live loop has it."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, LOCK_NAME)
    acquire = _acquire_flock if fcntl is not None else _acquire_exclusive
    fd, held = acquire(out_dir, path)
    try:
        yield held
    finally:
        try:
            os.unlink(path)      # while still locked: a loop that opens it next creates a fresh file
        except OSError:
            pass
        os.close(fd)             # releases the flock


def _acquire_flock(out_dir: str, path: str) -> tuple[int, Held]:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = Owner.parse(_read(fd))
            os.close(fd)
            raise _refusal(out_dir, owner) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:             # its holder unlinked it as we opened it: lock the new file instead
            os.close(fd)
            continue
        stale = Owner.parse(_read(fd))
        me = _me()
        _write(fd, me)
        return fd, Held(path, me, stale)


def _acquire_exclusive(out_dir: str, path: str) -> tuple[int, Held]:
    stale = None
    for _ in range(3):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                with open(path, encoding="utf-8") as f:
                    owner = Owner.parse(f.read())
            except FileNotFoundError:
                continue
            if owner is not None and owner.host == socket.gethostname() and not pid_alive(owner.pid):
                stale = owner
                os.unlink(path)
                continue
            raise _refusal(out_dir, owner) from None
        me = _me()
        _write(fd, me)
        return fd, Held(path, me, stale)
    raise _refusal(out_dir, None)
