"""Memory and time of the whole ``coldtrace run`` command as the input grows.

For each size (default 1,000,000 and 4,000,000 log events; simulated, not timed) runs
``coldtrace run --input payloads-*.ndjson --quiet`` (the report included, workers auto) and,
with ``--no-report-too``, the same with ``--no-report`` as a reference; prints wall time, events/s, the peak RSS
of the whole process tree (a sampler sums VmRSS over the command and its worker processes every
0.1 s) and the largest single process (``getrusage(RUSAGE_CHILDREN)``). The target: the tree's
peak at 4M at most 1.3x that at 1M.
The first size is the same-run baseline of the others.
Run: ``python bench/scale.py [--no-report-too] [N ...]`` (e.g. ``python bench/scale.py 1000000 4000000 10000000``).

Scale-out: ``python bench/scale.py --dask [N ...]`` (default 1,000,000) runs, per size, the same
command with ``--workers 2`` on FnApiRunner and then with ``--runner dask`` against a fresh
``dask.distributed`` LocalCluster of 2 worker processes (``pipeline.dask_cluster``), and prints
wall time, events/s, peak RSS of the command's and the cluster's process trees, and whether the
two runs wrote the same documents, summary and report aggregate.
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

import re

import orjson

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


def _role(pid: int) -> str:
    """What a process of the tree is: the command (the runner), a Beam worker, a dask process."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
    except OSError:
        return "?"
    if b"beam_worker" in cmd:
        return "worker"
    if b"pipeline.cli" in cmd:
        return "command"
    if b"dask" in cmd or b"distributed" in cmd or b"multiprocessing" in cmd:
        return "dask"
    return "other"


def tree_rss_kb(root: int, per_process: dict[str, int] | None = None, now: list | None = None) -> int:
    """Resident memory of ``root`` and every descendant, in KiB; ``per_process`` keeps the
    largest single process seen per role (``_role``), ``now`` gets each process's (role, KiB)."""
    kids, total, todo = _children(), 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(kids.get(pid, ()))
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                rss = int(f.read().split()[1]) * PAGE_KB
        except (OSError, IndexError, ValueError):
            continue
        total += rss
        if per_process is not None or now is not None:
            role = _role(pid)
            if per_process is not None:
                per_process[role] = max(per_process.get(role, 0), rss)
            if now is not None:
                now.append((role, rss))
    return total


def measure(args: list[str], roles: dict[str, int] | None = None, also: tuple[int, ...] = ()) -> tuple[float, int]:
    """(wall seconds, peak tree RSS in KiB) of one command, plus the trees of ``also`` (a dask
    cluster's processes); ``roles`` gets the largest single process per role, and
    ``roles["at_s"]`` when the peak was reached and ``roles["at_peak"]`` each process's RSS then."""
    peak = 0
    cpu = _children_cpu()
    t = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = threading.Event()
    roles = {} if roles is None else roles

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            parts: list[tuple[str, int]] = []
            now = sum(tree_rss_kb(pid, roles, parts) for pid in (proc.pid, *also))
            if now > peak:
                peak, roles["at_s"], roles["at_peak"] = now, round(time.perf_counter() - t), parts
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    took = time.perf_counter() - t
    done.set()
    sampler.join()
    roles["cpu_s"] = round(_children_cpu() - cpu, 1)
    if proc.returncode:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    return took, peak


def _children_cpu() -> float:
    """User + system CPU seconds of this process's waited-for children and their descendants."""
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def _roles(roles: dict[str, int]) -> str:
    parts = [f"{role} {kb / 2**20:.2f}" for role, kb in sorted(roles.items())
             if role not in ("at_s", "cpu_s", "at_peak", "?")]
    then = " + ".join(f"{role} {kb / 2**20:.2f}" for role, kb in sorted(roles.get("at_peak", ()), reverse=True)
                      if kb >= 2**14)
    return (f"largest process by role (GiB): {', '.join(parts)}; tree peak at {roles.get('at_s', 0)} s ({then}); "
            f"CPU {roles.get('cpu_s', 0)} s (the command and its workers; not a dask cluster's)")


def run_cli(files: list[str], out: str, *extra: str, roles: dict[str, int] | None = None,
            also: tuple[int, ...] = ()) -> tuple[float, int]:
    shutil.rmtree(out, ignore_errors=True)
    os.sync()  # no dirty pages of the last run left to write back
    return measure([sys.executable, "-m", "pipeline.cli", "run", "--quiet", "--out", out,
                    *[arg for f in files for arg in ("--input", f)], *extra], roles, also)


_CLUSTER = """
import sys
from pipeline.dask_cluster import local_cluster
with local_cluster(2) as cluster:
    print(cluster.address, flush=True)
    sys.stdin.read()
"""


def run_dask(files: list[str], out: str, roles: dict[str, int]) -> tuple[float, int, float]:
    """The same command on DaskRunner against a fresh LocalCluster of 2 single-threaded worker
    processes (``pipeline.dask_cluster``), started before the clock and sampled with the command:
    (wall seconds, peak RSS of the command's and the cluster's trees, cluster start seconds)."""
    t = time.perf_counter()
    cluster = subprocess.Popen([sys.executable, "-c", _CLUSTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    address = cluster.stdout.readline().decode().strip()
    started = time.perf_counter() - t
    try:
        if not address.startswith("tcp://"):
            raise SystemExit(f"the dask cluster did not start (got {address!r})")
        took, peak = run_cli(files, out, "--runner", "dask", "--dask-address", address, roles=roles,
                             also=(cluster.pid,))
    finally:
        cluster.stdin.close()
        cluster.wait(timeout=60)
    return took, peak, started


def _summary(out: str) -> dict:
    """summary.json but what depends on the clock or the runner: the run's elapsed time and rate,
    and the cross-check against Beam's counters (DaskRunner reports none)."""

    with open(os.path.join(out, "summary.json"), "rb") as f:
        summary = orjson.loads(f.read())
    summary.pop("run", None)
    summary.get("ledger", {}).get("checks", {}).pop("beam_metrics", None)
    return summary


def _report(out: str) -> bytes:
    """report.html but its output directory and the time it was generated."""

    with open(os.path.join(out, "report.html"), "rb") as f:
        html = f.read().replace(out.encode(), b"OUT")
    return re.sub(rb'(Generated |"generated":")\d{4}-\d\d-\d\dT[\d:.]+Z', rb"\1T", html)


def same_outputs(a: str, b: str) -> list[str]:
    """Which of two runs' outputs differ: each index file as sorted lines (shards join in any
    order), summary.json and report.html but for the run's clock and directory (``_summary``,
    ``_report``). The report aggregate itself is not compared: its lists are in merge order."""
    differ = []
    for path in sorted(glob.glob(os.path.join(a, "indices", "*.ndjson"))):
        other = os.path.join(b, "indices", os.path.basename(path))
        with open(path, "rb") as f, open(other, "rb") as g:
            if sorted(f.read().splitlines()) != sorted(g.read().splitlines()):
                differ.append(os.path.basename(path))
    if _summary(a) != _summary(b):
        differ.append("summary.json")
    if _report(a) != _report(b):
        differ.append("report.html")
    return differ


def _fleet(tmp: str, n: int) -> tuple[str, list[str], dict]:
    """A simulated fleet of about ``n`` events in 8 files: (its directory, the files, its truth)."""
    fleet = os.path.join(tmp, f"fleet-{n}")
    truth = write_fleet(fleet, config_for_events(n, files=8))
    return fleet, sorted(glob.glob(os.path.join(fleet, "payloads-*.ndjson"))), truth


def compare_dask(sizes: list[int]) -> None:
    """Per size: FnApiRunner with 2 worker processes, then DaskRunner on 2 dask workers, the same input."""
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            fleet, files, truth = _fleet(tmp, n)
            events = truth["events"]
            fn_roles: dict[str, int] = {}
            fn_took, fn_peak = run_cli(files, os.path.join(tmp, "fnapi"), "--workers", "2", roles=fn_roles)
            print(f"{events:>11,} events  FnApiRunner, 2 worker processes: {fn_took:6.1f} s {events / fn_took:9,.0f} "
                  f"events/s  peak RSS (tree) {fn_peak / 2**20:5.2f} GiB\n    {_roles(fn_roles)}", flush=True)
            dask_roles: dict[str, int] = {}
            took, peak, started = run_dask(files, os.path.join(tmp, "dask"), dask_roles)
            differ = same_outputs(os.path.join(tmp, "fnapi"), os.path.join(tmp, "dask"))
            print(f"{events:>11,} events  DaskRunner, LocalCluster of 2 workers: {took:6.1f} s {events / took:9,.0f} "
                  f"events/s  peak RSS (command + cluster) {peak / 2**20:5.2f} GiB (cluster start {started:.1f} s, "
                  f"not in the time)\n    {_roles(dask_roles)}\n    outputs: "
                  + ("identical (every index as sorted lines, summary.json, report.html)" if not differ
                     else f"DIFFER: {', '.join(differ)}"), flush=True)
            shutil.rmtree(fleet, ignore_errors=True)


def main() -> None:
    reference = "--no-report-too" in sys.argv[1:]
    sizes = [int(a) for a in sys.argv[1:] if not a.startswith("--")] or [1_000_000, 4_000_000]
    if "--dask" in sys.argv[1:]:
        compare_dask([int(a) for a in sys.argv[1:] if not a.startswith("--")] or [1_000_000])
        print(f"cores: {os.cpu_count()}, load average at end: {os.getloadavg()[0]:.2f}")
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            fleet, files, truth = _fleet(tmp, n)
            events = truth["events"]
            mb = sum(os.path.getsize(f) for f in files) / 1e6
            roles: dict[str, int] = {}
            took, peak = run_cli(files, os.path.join(tmp, "out"), roles=roles)
            base_took, base_peak = run_cli(files, os.path.join(tmp, "out"), "--no-report") if reference else (0, 0)
            rows.append((events, took, peak, base_took, base_peak))
            print(f"{events:>11,} events ({mb:,.0f} MB, {len(truth['functions'])} functions): "
                  f"coldtrace run {took:6.1f} s {events / took:9,.0f} events/s  peak RSS (tree) {peak / 2**20:5.2f} GiB"
                  + (f"  |  --no-report {base_took:6.1f} s  {base_peak / 2**20:5.2f} GiB" if reference else ""),
                  flush=True)
            print(f"  {_roles(roles)}", flush=True)
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
