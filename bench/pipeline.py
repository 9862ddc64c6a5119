"""End-to-end throughput of the batch pipeline on a simulated fleet, against plain Python.

Simulates a fleet of about N log events (default 1,000,000; not timed), then times
``pipeline.run.run`` (FnApiRunner; one worker, then two; each in a fresh interpreter) reading
the payload files and writing every index file, then the whole ``coldtrace run`` command, and
— as the baseline, in the same run — the core work in plain Python in one process with no
Beam: read, group by stream, de-duplicate, parse, fold, render, write.

Each figure is printed as wall time and events/s, and as CPU core-seconds per million events
(this process's CPU for the baseline, the children's for the runs): on a shared machine the
wall time drifts with the other jobs' load, the CPU far less. ``--command-only`` skips the
pipeline-only runs and the codec figures. Run: ``python bench/pipeline.py [N] [--command-only]``.
"""

from __future__ import annotations

import glob
import os
import resource
import sys
import tempfile
import time
from collections import defaultdict

# This file is named like the package it measures: keep bench/ off the import path.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import base64
import subprocess
import zlib

import orjson

from pipeline.invocations import dedupe_sorted, fold_stream
from pipeline.model import INDEX_INVOCATIONS, INDEX_LOGS, DeadLetter, stream_key
from pipeline.parse import awslogs, parse_event
from pipeline.sinks.index_files import render_chunks
from pipeline.sources.formats import read_stream
from pipeline.sources.simulate import config_for_events, write_fleet


def plain_python(files: list[str], out_dir: str) -> int:
    groups: dict[str, list] = defaultdict(list)
    for path in files:
        with open(path, "rb") as f:
            for item in read_stream(f, path):
                if not isinstance(item, DeadLetter):
                    groups[stream_key(item[0])].extend(item)
    n = 0
    invocations = []
    with open(os.path.join(out_dir, "logs.ndjson"), "w") as logs:
        for events in groups.values():
            events = dedupe_sorted(events)
            n += len(events)
            for ev in events:
                parse_event(ev)
            invocations.extend(fold_stream(events))
            for chunk in render_chunks(INDEX_LOGS, events):
                logs.write(chunk + "\n")
    with open(os.path.join(out_dir, "invocations.ndjson"), "w") as inv:
        for chunk in render_chunks(INDEX_INVOCATIONS, invocations):
            inv.write(chunk + "\n")
    return n


_CHILD = """
import sys, time
from pipeline.run import RunConfig, run
files, out, workers = sys.argv[1].split("\\n"), sys.argv[2], int(sys.argv[3])
t = time.perf_counter()
run(RunConfig(inputs=files, out_dir=out, direct_num_workers=workers))
print(time.perf_counter() - t)
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # finished children and theirs
    return usage.ru_utime + usage.ru_stime


def pipeline_seconds(files: list[str], out: str, workers: int) -> tuple[float, float]:
    """``pipeline.run.run`` timed in a fresh interpreter (no heap left over from the baseline):
    (wall seconds of the run itself, CPU seconds of the whole child process tree)."""

    cpu = _children_cpu()
    done = subprocess.run([sys.executable, "-c", _CHILD, "\n".join(files), out, str(workers)],
                          capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1]), _children_cpu() - cpu


def cli_seconds(files: list[str], out: str) -> tuple[float, float]:
    """The whole ``coldtrace run --workers auto`` command (start-up, pipeline, ledger, summary,
    report): (wall seconds, CPU seconds of its process tree)."""

    cpu = _children_cpu()
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline.cli", "run", "--quiet", "--out", out,
                    *[arg for f in files for arg in ("--input", f)]], check=True, capture_output=True)
    return time.perf_counter() - t, _children_cpu() - cpu


def codecs(files: list[str], n: int = 2000) -> None:
    """Per payload: base64 and gzip decode with the standard library and with the compiled codecs
    ``pipeline.parse.awslogs`` uses when installed (pybase64, ISA-L), measured side by side."""



    datas = []
    with open(files[0], "rb") as f:
        for line in f:
            data = orjson.loads(line).get("awslogs", {}).get("data")
            if data:
                datas.append(data)
            if len(datas) >= n:
                break
    raws = [base64.b64decode(d) for d in datas]

    def best(fn, items) -> float:
        runs = []
        for _ in range(15):  # CPU time, the best of 15: other jobs' load hardly shows
            t = time.process_time()
            for item in items:
                fn(item)
            runs.append(time.process_time() - t)
        return min(runs) / len(items) * 1e6

    b64 = best(lambda d: base64.b64decode(d, validate=True), datas)
    b64_fast = best(lambda d: awslogs.b64decode(d, validate=True), datas)
    gz = best(lambda r: awslogs._gunzip(r, awslogs.MAX_DECOMPRESSED, zlib), raws)
    gz_fast = best(lambda r: awslogs._gunzip(r, awslogs.MAX_DECOMPRESSED, awslogs._inflate), raws)
    print(f"decode per payload, CPU ({len(datas):,} payloads): base64 {b64:.1f} us, {awslogs.b64decode.__module__} "
          f"{b64_fast:.1f} us; gzip zlib {gz:.1f} us, {awslogs._inflate.__name__} {gz_fast:.1f} us")


def _synced(fn, *args):
    os.sync()  # start with no dirty pages from the last part left to write back
    return fn(*args)


def main() -> None:
    argv = [a for a in sys.argv[1:] if a != "--command-only"]
    command_only = "--command-only" in sys.argv[1:]
    target = int(argv[0]) if argv else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        fleet = os.path.join(tmp, "fleet")
        truth = write_fleet(fleet, config_for_events(target, files=8))
        files = sorted(glob.glob(os.path.join(fleet, "payloads-*.ndjson")))
        events = truth["events"]
        per_m = 1e6 / events
        print(f"fleet: {events:,} unique log events, {truth['payloads']:,} payloads, "
              f"{len(truth['functions'])} functions, {len(files)} files")
        if not command_only:
            codecs(files)
        os.sync()  # each timed part starts with no dirty pages left to write back (see _synced)
        t, cpu = time.perf_counter(), time.process_time()
        plain_python(files, tmp)
        base, base_cpu = time.perf_counter() - t, time.process_time() - cpu
        print(f"plain Python, 1 process (baseline):   {base:6.1f} s  {events / base:10,.0f} events/s  "
              f"CPU {base_cpu * per_m:5.1f} core-s per 1M events")
        if not command_only:
            for workers in (1, 2):
                took, cpu = min(_synced(pipeline_seconds, files, os.path.join(tmp, f"out{workers}"), workers)
                                for _ in range(2))  # best of two: this VM's speed drifts by a second or so
                print(f"coldtrace pipeline, FnApiRunner, {workers} worker(s): {took:6.1f} s  "
                      f"{events / took:10,.0f} events/s  ({base / took:.2f}x the baseline's speed)  "
                      f"CPU {cpu * per_m:5.1f} core-s per 1M events")
        took, cpu = _synced(cli_seconds, files, os.path.join(tmp, "cli"))
        cores = os.cpu_count() or 1
        print(f"coldtrace run command (workers auto; + start-up, summary, report.html): {took:6.1f} s  "
              f"{events / took:10,.0f} events/s  ({base / took:.2f}x)  CPU {cpu * per_m:5.1f} core-s per 1M events "
              f"({cpu / base_cpu:.1f}x the baseline's CPU; at most {events / cpu * cores:,.0f} events/s "
              f"on {cores} cores if every core-second ran in parallel)")
        print(f"cores: {cores}, load average at end: {os.getloadavg()[0]:.2f}")

if __name__ == "__main__":
    main()
