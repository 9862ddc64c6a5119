"""Where the CPU of the whole ``coldtrace run`` goes: core-seconds per million events, by stage.

Simulates a fleet of about N log events (default 300,000; not timed), then runs the whole command
(``coldtrace run --workers 1 --quiet``: the pipeline in this one process, then the ledger, the
summary and report.html) twice: once plainly, for the CPU time the shares divide, and once
observed. Each CPU sample is put in one stage by where its code lives (the table below), and
printed per million events — the floor under the wall time on this machine is the total divided
by its cores. Run: ``python bench/profile_stages.py [N] [--cprofile] [--save FILE]``.

By default the run is sampled: a SIGPROF every millisecond (in practice every clock tick) of the
process's CPU records the main thread's stack (FnApiRunner with one worker runs every bundle in
that thread), weighted by the CPU time since the last sample (a signal that fell inside a long C
call is handled once, after it: the weight keeps that call's whole time). A sample goes to the
innermost frame that belongs to a stage, so a built-in's time (``dict.get``, ``orjson.dumps``)
counts for the code that called it. Sampling costs the same per microsecond of work wherever it
is spent. ``--cprofile`` instead traces every call (cProfile with a CPU clock): exact
call counts, but its cost per call (two clock reads) is larger than many of the calls it times,
so it inflates code made of many small Python calls (the aggregates, the parser) about twofold
against code that spends its time inside C (decoding, redaction, JSON). ``--save`` writes the
raw cProfile data (for ``pstats``).
"""

from __future__ import annotations

import cProfile
import glob
import os
import pstats
import signal
import sys
import tempfile
import time
from collections import Counter

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


class Sampler:
    """Samples the main thread's stack every ``interval`` s of the process's CPU time."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.stages: Counter[str] = Counter()  # stage → CPU seconds
        self.leaves: Counter[str] = Counter()  # innermost frame that has a stage ("file:function") → CPU s
        self.samples = 0
        self._last = 0.0
        self._code: dict = {}  # code object → its stage (None: no stage of its own)

    def _stage(self, code) -> str | None:
        stage = self._code.get(code, "")
        if stage == "":
            stage = stage_of(code.co_filename, code.co_name)
            stage = self._code[code] = None if stage.startswith("other") else stage
        return stage

    def _on_signal(self, _signum, frame) -> None:
        now = time.process_time()
        weight, self._last = now - self._last, now
        self.samples += 1
        f = frame
        while f is not None:
            stage = self._stage(f.f_code)
            if stage is not None:
                self.stages[stage] += weight
                name = f.f_code.co_filename.split("site-packages/")[-1].split("/pipeline/")[-1]
                self.leaves[f"{name}:{f.f_code.co_name}"] += weight
                return
            f = f.f_back
        self.stages["other (interpreter, GC, threads)"] += weight
        self.leaves[f"{frame.f_code.co_filename}:{frame.f_code.co_name}" if frame else "?"] += weight

    def runcall(self, fn, *args):
        old = signal.signal(signal.SIGPROF, self._on_signal)
        self._last = time.process_time()
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)
        try:
            return fn(*args)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0, 0)
            signal.signal(signal.SIGPROF, old)


def cprofile_totals(prof: cProfile.Profile) -> tuple[dict[str, float], pstats.Stats]:
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
    return totals, stats


def main() -> None:
    argv = sys.argv[1:]
    save = None
    traced = "--cprofile" in argv
    if traced:
        argv.remove("--cprofile")
    if "--save" in argv:
        at = argv.index("--save")
        save = argv[at + 1]
        del argv[at:at + 2]
    n = int(argv[0]) if argv else 300_000

    with tempfile.TemporaryDirectory() as tmp:
        truth = write_fleet(os.path.join(tmp, "fleet"), config_for_events(n, files=8))
        files = sorted(glob.glob(os.path.join(tmp, "fleet", "payloads-*.ndjson")))
        events = truth["events"]
        args = ["run", "--quiet", "--workers", "1", "--out", os.path.join(tmp, "out"),
                *[a for f in files for a in ("--input", f)]]
        cpu, wall = time.process_time(), time.perf_counter()
        cli(args)  # once without the profiler: the CPU time the stages' shares divide
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if traced:
            prof = cProfile.Profile(time.process_time)
            prof.runcall(cli, args)
        else:
            sampler = Sampler()
            sampler.runcall(cli, args)
    if traced:
        if save:
            prof.dump_stats(save)
        totals, stats = cprofile_totals(prof)
        how = "cProfile"
    else:
        totals = dict(sampler.stages)
        how = f"{sampler.samples:,} samples"
    observed = sum(totals.values())
    per_m = 1e6 / events
    print(f"{events:,} events, the whole command in one process: CPU {cpu:.1f} s (wall {wall:.1f} s, "
          f"load {os.getloadavg()[0]:.1f}); shares from {how}")
    print(f"{'stage':48} {'core-s per 1M events':>22} {'share':>7}")
    for stage, secs in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{stage:48} {secs / observed * cpu * per_m:22.1f} {secs / observed:7.1%}")
    print(f"{'total':48} {cpu * per_m:22.1f}   -> at best {events / cpu * (os.cpu_count() or 1):,.0f} events/s "
          f"on {os.cpu_count()} cores if every core-second ran in parallel")
    if traced:
        print("top functions by own time:")
        stats.sort_stats("tottime").print_stats(25)
    else:
        print("top functions (innermost frame with a stage), core-s per 1M events:")
        for name, n in sampler.leaves.most_common(50):
            print(f"  {n / observed * cpu * per_m:6.2f}  {name}")

if __name__ == "__main__":
    main()
