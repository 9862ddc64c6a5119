"""Where the memory of ``coldtrace run`` is at its peak, by allocating stack, in every process.

Runs ``coldtrace run --input FILE ... --quiet --workers 2`` under memray (the command process,
and each FnApiRunner worker process through its start command), then prints, per process, the
peak of its resident memory and of its heap (and when), and the heap at its high-water mark
grouped by the innermost ``--depth`` Python frames. Run it at two sizes and compare: what grows
with the input is what differs.

memray is a development tool, not a dependency of coldtrace: ``pip install memray`` first
(Linux and macOS). Example (a simulated fleet made by ``bench/scale.py``'s ``write_fleet``)::

    python bench/memory_profile.py --out /tmp/prof-1m /tmp/fleet-1000000/payloads-*.ndjson
    python bench/memory_profile.py --report /tmp/prof-1m --depth 4
"""

from __future__ import annotations

import argparse
import collections
import glob
import importlib.util
import os
import shlex
import subprocess
import sys

# This file sits beside modules named like the package's: keep bench/ off the import path.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

# Run as ``python -c`` under memray: the command, its workers started under memray too.
_DRIVE = """
import os, shlex, sys
import pipeline.run as batch
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.transforms.environments import SubprocessSDKEnvironment
prof = os.environ["COLDTRACE_PROFILE_DIR"]
beams = batch.beam_runner

def beam_runner(cfg):
    if beams(cfg) is None:
        return None
    command = (f"exec {shlex.quote(sys.executable)} -m memray run -q -o {shlex.quote(prof)}/worker-$$.bin "
               "-m pipeline.beam_worker")
    return FnApiRunner(default_environment=SubprocessSDKEnvironment.from_command_string(command))

batch.beam_runner = beam_runner
from pipeline.cli import main
sys.argv = ["coldtrace", *sys.argv[1:]]
main()
"""


def profile(files: list[str], out: str, workers: int) -> None:
    os.makedirs(out, exist_ok=True)
    for old in glob.glob(os.path.join(out, "*.bin")):
        os.remove(old)
    driver = os.path.join(out, "drive.py")
    with open(driver, "w") as f:
        f.write(_DRIVE)
    env = dict(os.environ, COLDTRACE_PROFILE_DIR=out)
    args = [sys.executable, "-m", "memray", "run", "-q", "-o", os.path.join(out, "command.bin"), driver,
            "run", "--quiet", "--workers", str(workers), "--out", os.path.join(out, "run"),
            *[a for path in files for a in ("--input", path)]]
    print(" ".join(shlex.quote(a) for a in args), flush=True)
    subprocess.run(args, env=env, check=True)


def _frame(fn: str, path: str, line: int) -> str:
    return f"{fn} {path.split('site-packages/')[-1].split(os.getcwd() + '/')[-1]}:{line}"


def report(out: str, depth: int, top: int) -> None:
    from memray import FileReader  # noqa: PLC0415 -- optional: the module above runs without memray

    for path in sorted(glob.glob(os.path.join(out, "*.bin"))):
        reader = FileReader(path)
        snaps = list(reader.get_memory_snapshots())
        if not snaps:
            continue
        t0, end = snaps[0].time, snaps[-1].time
        rss = max(snaps, key=lambda s: s.rss)
        heap = max(snaps, key=lambda s: s.heap)
        print(f"\n{os.path.basename(path)}: run {(end - t0) / 1000:.0f} s; RSS peak {rss.rss / 2**20:.0f} MiB at "
              f"{(rss.time - t0) / 1000:.0f} s (heap then {rss.heap / 2**20:.0f}); heap peak {heap.heap / 2**20:.0f} MiB "
              f"at {(heap.time - t0) / 1000:.0f} s")
        by_stack: collections.Counter = collections.Counter()
        for rec in reader.get_high_watermark_allocation_records(merge_threads=True):
            frames = [_frame(*f) for f in rec.stack_trace(max_stacks=depth)]
            if any("importlib._bootstrap" in f for f in frames):
                frames = ["(imports)"]
            by_stack[" < ".join(frames) or "(no Python frame)"] += rec.size
        for stack, size in by_stack.most_common(top):
            print(f"  {size / 2**20:7.1f} MiB  {stack}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("inputs", nargs="*", help="payload files (profile them), or nothing with --report")
    ap.add_argument("--out", default="memory-profile", help="directory for the memray captures")
    ap.add_argument("--report", metavar="DIR", help="only report on the captures in DIR")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--depth", type=int, default=3, help="innermost frames that name a stack")
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    if importlib.util.find_spec("memray") is None:
        raise SystemExit("bench/memory_profile.py needs memray, a development tool: pip install memray")
    if not args.report:
        if not args.inputs:
            raise SystemExit("give payload files to profile, or --report DIR")
        profile(args.inputs, args.out, args.workers)
    report(args.report or args.out, args.depth, args.top)


if __name__ == "__main__":
    main()
