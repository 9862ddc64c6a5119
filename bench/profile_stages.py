"""Where the CPU of the whole ``coldtrace run`` goes: core-seconds per million events, by stage.

Simulates a fleet of about N log events (default 300,000; not timed), then runs the whole command
(``coldtrace run --workers 1 --quiet``: the pipeline in this one process, then the ledger, the
summary and report.html) under cProfile with a CPU-time clock, so other jobs' load on a shared
machine does not inflate the figures. Each function's own time is put in one stage by where it
lives (the table below), and printed per million events — the floor under the wall time on this
machine is the total divided by its cores. Run: ``python bench/profile_stages.py [N]``.
"""

from __future__ import annotations

import cProfile
import glob
import os
import pstats
import sys
import tempfile
import time

# This file sits beside modules named like the package's: keep bench/ off the import path.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

from pipeline.cli import main as cli
from pipeline.sources.simulate import config_for_events, write_fleet  # noqa: E402

# (stage, substrings of "file:function" for Python code or of the built-in's name), first match wins.
STAGES = [
    ("decode (base64, gzip, JSON of payloads)", ["parse/awslogs", "isal", "pybase64", "zlib", "binascii", "sources/formats",
                                                 "sources/files", "gzip"]),
    ("redact", ["parse/redact", "transforms/redact", "re.Pattern", "_sre", "re2"]),
    ("parse lines", ["pipeline/parse/"]),
    ("fold into invocations", ["pipeline/invocations", "transforms/build_invocations", "model/events"]),
    ("render documents (to_doc, orjson.dumps)", ["to_doc", "sinks/index_files", "model/", "orjson.dumps", "iso_ms"]),
    ("trace stitching", ["pipeline/stitch/", "transforms/stitch_traces", "_pickle", "pickle"]),
    ("metrics, windows, alarms, detect", ["pipeline/windows", "transforms/window", "transforms/detect", "pipeline/detect",
                                          "transforms/evaluate", "pipeline/rules", "pipeline/metrics"]),
    ("report and advice aggregates", ["pipeline/report", "transforms/report_aggregates", "pipeline/sketch",
                                      "pipeline/advise", "sinks/advice"]),
    ("ledger, summary, report.html after the run", ["pipeline/ledger", "pipeline/summary", "sinks/ledger",
                                                     "pipeline/render", "pipeline/commands"]),
    ("Beam coders (shuffle encode/decode)", ["coders/", "coder_impl", "stream.", "OutputStream", "InputStream"]),
    ("Beam bundle machinery and runner", ["apache_beam"]),
    ("JSON parse (orjson.loads elsewhere)", ["orjson.loads"]),
    ("file I/O", ["write' of", "read' of", "method write", "method read", "io.", "posix"]),
]


def stage_of(filename: str, name: str) -> str:
    where = f"{filename}:{name}"
    for stage, needles in STAGES:
        if any(n in where for n in needles):
            return stage
    return "other (interpreter, GC, threads)"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000

    with tempfile.TemporaryDirectory() as tmp:
        truth = write_fleet(os.path.join(tmp, "fleet"), config_for_events(n, files=8))
        files = sorted(glob.glob(os.path.join(tmp, "fleet", "payloads-*.ndjson")))
        events = truth["events"]
        args = ["run", "--quiet", "--workers", "1", "--out", os.path.join(tmp, "out"),
                *[a for f in files for a in ("--input", f)]]
        cpu, wall = time.process_time(), time.perf_counter()
        cli(args)  # once without the profiler: the CPU time the stages' shares divide
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        prof = cProfile.Profile(time.process_time)
        prof.runcall(cli, args)
    stats = pstats.Stats(prof)
    totals: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, tottime, _ct, callers) in stats.stats.items():
        stage = stage_of(filename, name)
        if filename == "~" and stage.startswith("other") and callers:
            # a generic built-in (dict.get, len, isinstance): its time goes to its callers' stages
            for (cfile, _cline, cname), (_ccc, _cnc, ctt, _cct) in callers.items():
                caller_stage = stage_of(cfile, cname)
                totals[caller_stage] = totals.get(caller_stage, 0.0) + ctt
            continue
        totals[stage] = totals.get(stage, 0.0) + tottime
    profiled = sum(totals.values())
    per_m = 1e6 / events
    print(f"{events:,} events, the whole command in one process: CPU {cpu:.1f} s without the profiler "
          f"(wall {wall:.1f} s, load {os.getloadavg()[0]:.1f}); {profiled:.1f} s with it")
    print(f"{'stage':48} {'core-s per 1M events':>22} {'share':>7}   (the profile's shares of the unprofiled CPU)")
    for stage, secs in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{stage:48} {secs / profiled * cpu * per_m:22.1f} {secs / profiled:7.1%}")
    print(f"{'total':48} {cpu * per_m:22.1f}   -> at best {events / cpu * (os.cpu_count() or 1):,.0f} events/s "
          f"on {os.cpu_count()} cores if every core-second ran in parallel")
    print("top functions by own time:")
    stats.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
