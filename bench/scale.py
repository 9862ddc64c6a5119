"""Memory and time of the whole ``coldtrace run`` command as the input grows.

For each size (default 1,000,000 and 4,000,000 log events; simulated, not timed) runs
``coldtrace run --input payloads-*.ndjson --quiet`` (the report included, workers auto) and,
with ``--no-report-too``, the same with ``--no-report`` as a reference; prints wall time, events/s, the peak RSS
of the whole process tree (a sampler sums VmRSS over the command and its worker processes every
0.1 s) and the largest single process (``getrusage(RUSAGE_CHILDREN)``). The target: the tree's
peak at 4M at most 1.3x that at 1M.
The first size is the same-run baseline of the others.
Run: ``python bench/scale.py [--no-report-too] [N ...]`` (e.g. ``python bench/scale.py 1000000 4000000 10000000``).
"""

from __future__ import annotations

import glob
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

# This file sits beside modules named like the package's: keep bench/ off the import path.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

from pipeline.sources.simulate import config_for_events, write_fleet  # noqa: E402

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(name))
    return kids


def tree_rss_kb(root: int) -> int:
    """Resident memory of ``root`` and every descendant, in KiB."""
    kids, total, todo = _children(), 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(kids.get(pid, ()))
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * PAGE_KB
        except (OSError, IndexError, ValueError):
            pass
    return total


def measure(args: list[str]) -> tuple[float, int]:
    """(wall seconds, peak tree RSS in KiB) of one command."""
    peak = 0
    t = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kb(proc.pid))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    took = time.perf_counter() - t
    done.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    return took, peak


def run_cli(files: list[str], out: str, *extra: str) -> tuple[float, int]:
    shutil.rmtree(out, ignore_errors=True)
    os.sync()  # no dirty pages of the last run left to write back
    return measure([sys.executable, "-m", "pipeline.cli", "run", "--quiet", "--out", out,
                    *[arg for f in files for arg in ("--input", f)], *extra])


def main() -> None:
    reference = "--no-report-too" in sys.argv[1:]
    sizes = [int(a) for a in sys.argv[1:] if a != "--no-report-too"] or [1_000_000, 4_000_000]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            fleet = os.path.join(tmp, f"fleet-{n}")
            truth = write_fleet(fleet, config_for_events(n, files=8))
            files = sorted(glob.glob(os.path.join(fleet, "payloads-*.ndjson")))
            events = truth["events"]
            mb = sum(os.path.getsize(f) for f in files) / 1e6
            took, peak = run_cli(files, os.path.join(tmp, "out"))
            base_took, base_peak = run_cli(files, os.path.join(tmp, "out"), "--no-report") if reference else (0, 0)
            rows.append((events, took, peak, base_took, base_peak))
            print(f"{events:>11,} events ({mb:,.0f} MB, {len(truth['functions'])} functions): "
                  f"coldtrace run {took:6.1f} s {events / took:9,.0f} events/s  peak RSS (tree) {peak / 2**20:5.2f} GiB"
                  + (f"  |  --no-report {base_took:6.1f} s  {base_peak / 2**20:5.2f} GiB" if reference else ""),
                  flush=True)
            shutil.rmtree(fleet, ignore_errors=True)
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    print(f"largest single process over all runs: {largest:.2f} GiB")
    if len(rows) > 1:
        first = rows[0]
        for events, took, peak, base_took, base_peak in rows[1:]:
            print(f"{events / first[0]:.1f}x the events: peak RSS {peak / first[2]:.2f}x (target <= 1.3x), "
                  f"time {took / first[1]:.2f}x" + (f"; --no-report: peak {base_peak / first[4]:.2f}x" if reference else ""))
    print(f"cores: {os.cpu_count()}, load average at end: {os.getloadavg()[0]:.2f} "
          "(a shared machine: other jobs' load shows in the times)")


if __name__ == "__main__":
    main()
