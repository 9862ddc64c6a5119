"""The mypyc build against the same Python, measured in the same run: per stage and the whole command.

Builds the package's compiled modules with mypyc into a scratch directory (never in place: a
``.so`` beside the ``.py`` would shadow it for every test run), then runs each measurement in two
child processes that differ only in ``PYTHONPATH``: the pure source tree, and the scratch tree
whose listed modules are compiled. Every figure is CPU time (user + system), so other jobs on a
shared machine inflate both sides alike; the whole command runs pure and compiled back to back,
alternating, and keeps each side's best.

Stages (children alternating between the variants, 3 each by default, on the simulated
fleet's events; each stage's best of 3 passes per child):
parse (``parse_event`` of every line), fold (``fold_sorted`` per log stream), render (``doc_id``,
``to_doc`` and ``orjson.dumps`` of every log, invocation and span document), stitch
(``group_by_keys`` and ``trace_spans``). Each child also prints a digest of everything it made;
the digests must agree. The whole command is ``coldtrace run --input … --quiet --workers 1``;
its outputs (every index file, the ledger, the aggregates, summary.json without its clock
fields) must be byte-identical.

Run: ``python bench/compiled.py [N events, default 300000] [--modules a.py,b.py] [--build DIR]``
(needs mypy and a C compiler at build time; ``--build`` reuses a tree an earlier run built).
docs/compiled.md has the figures and the verdict: not worth shipping.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

# This file sits beside modules named like the package's: keep bench/ off the import path.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import orjson

import pipeline.parse
from pipeline.invocations import fold_sorted, in_event_order
from pipeline.model import LogEvent, stream_key
from pipeline.parse import parse_event
from pipeline.sources.formats import read_stream
from pipeline.sources.simulate import config_for_events, write_fleet
from pipeline.stitch import group_by_keys, trace_spans

# Each child imports the package from its own PYTHONPATH: the pure tree or the compiled one.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# The pure modules of the batch path that mypyc compiles and that then make the batch command's
# outputs byte for byte (docs/compiled.md: what else was tried, and what breaks). Repository paths.
MODULES: tuple[str, ...] = (
    "pipeline/parse/__init__.py",
    "pipeline/parse/appjson.py",
    "pipeline/parse/platform_json.py",
    "pipeline/parse/platform_text.py",
    "pipeline/parse/plausible.py",
    "pipeline/parse/runtime_text.py",
    "pipeline/parse/signatures.py",
    "pipeline/model/common.py",
    "pipeline/invocations.py",
    "pipeline/cost.py",
    "pipeline/stitch/facts.py",
    "pipeline/stitch/gap.py",
    "pipeline/stitch/keys.py",
    "pipeline/stitch/spans.py",
)
# mypy checks before mypyc compiles. These two codes flag code that is right at run time (a match
# narrowed through another variable, an object.__new__ result), so they do not stop the build.
MYPY_FLAGS = ("--disable-error-code=union-attr", "--disable-error-code=var-annotated")
_BUILD = """
import sys
from mypyc.build import mypycify
from setuptools import setup
modules = sys.argv[1:]
sys.argv = [sys.argv[0], "-q", "build_ext", "--inplace"]
setup(name="coldtrace-compiled-bench", ext_modules=mypycify(modules, opt_level="3", group_name="coldtrace"))
"""


# -- build ---------------------------------------------------------------------------------------
def build(dest: str, modules: list[str]) -> str:
    """Copy the package to dest/src and compile ``modules`` there in place; returns dest/src."""
    src = os.path.join(dest, "src")
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(os.path.join(ROOT, "pipeline"), os.path.join(src, "pipeline"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _BUILD, *MYPY_FLAGS, *modules], cwd=src, capture_output=True, text=True)
    built = [m for m in modules if _built(src, m)]
    if proc.returncode or len(built) != len(modules):
        sys.exit(f"mypyc build failed ({len(built)} of {len(modules)} modules built):\n"
                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    print(f"built {len(built)} modules with mypyc in {time.perf_counter() - t:.0f} s: {src}")
    return src


def _built(src: str, module_path: str) -> bool:
    stem = os.path.join(src, module_path[:-3])
    folder, name = os.path.split(stem)
    return any(f.startswith(name + ".") and f.endswith((".so", ".pyd")) for f in os.listdir(folder))


def _child_env(pythonpath: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": pythonpath, "PYTHONHASHSEED": "0"}


# -- stages (run in a child, one variant per child) ----------------------------------------------
def stage_worker(files: list[str]) -> None:
    events: list[LogEvent] = []
    for path in files:
        with open(path, "rb") as fh:
            for item in read_stream(fh, path):
                if isinstance(item, list):
                    events.extend(item)
    streams: dict[str, list[LogEvent]] = {}
    for ev in events:
        streams.setdefault(stream_key(ev), []).append(ev)
    ordered = [in_event_order(evs) for evs in streams.values()]

    def best(fn, n=3):
        times = []
        for _ in range(n):
            t = time.process_time()
            out = fn()
            times.append(time.process_time() - t)
        return min(times), out

    def parse_all():
        for ev in events:
            parse_event(ev)

    def fold_all():
        return [inv for evs in ordered for inv in fold_sorted(evs)]

    def stitch_all(invs):
        return [s for group in group_by_keys(invs) for s in trace_spans(group)]

    def render_all(records):
        dumps = orjson.dumps
        return [r.doc_id().encode() + dumps(r.to_doc()) for r in records]

    t_parse, _ = best(parse_all)
    t_fold, invs = best(fold_all)
    t_stitch, spans = best(lambda: stitch_all(invs))
    t_logs, log_docs = best(lambda: render_all(events))
    t_invs, inv_docs = best(lambda: render_all(invs))
    t_spans, span_docs = best(lambda: render_all(spans))
    digest = hashlib.sha256()
    for docs in (log_docs, inv_docs, span_docs):
        for d in docs:
            digest.update(d)
    print(json.dumps({
        "where": pipeline.parse.__file__, "events": len(events), "invocations": len(invs), "spans": len(spans),
        "cpu": {"parse": t_parse, "fold": t_fold, "stitch": t_stitch, "render logs": t_logs,
                "render invocations": t_invs, "render spans": t_spans},
        "digest": digest.hexdigest()}))


def _best(runs: list[dict]) -> dict:
    """The first run with each stage's least CPU time over all runs (their digests must agree)."""
    assert len({r["digest"] for r in runs}) == 1, "the same variant made different documents"
    best = dict(runs[0])
    best["cpu"] = {stage: min(r["cpu"][stage] for r in runs) for stage in runs[0]["cpu"]}
    return best


def run_stages(tree: str, files: list[str]) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--stage-worker", *files], env=_child_env(tree),
                         cwd=tempfile.gettempdir(), capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# -- the whole command ---------------------------------------------------------------------------
_RUN = "from pipeline.cli import main; import sys; main(sys.argv[1:])"


def run_command(tree: str, files: list[str], out: str) -> float:
    """CPU seconds (user + system, the child and its children) of one ``coldtrace run``."""
    shutil.rmtree(out, ignore_errors=True)
    args = [sys.executable, "-c", _RUN, "run", "--quiet", "--workers", "1", "--out", out,
            *[a for f in files for a in ("--input", f)]]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(args, env=_child_env(tree), cwd=tempfile.gettempdir(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        sys.exit(f"coldtrace run failed under {tree}:\n{proc.stderr.decode()[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


_CLOCK_FIELDS = ("elapsed_s", "events_per_s")  # summary.json's "run": the only figures that differ run to run


def _strip_clock(obj):
    if isinstance(obj, dict):
        return {k: _strip_clock(v) for k, v in obj.items() if k not in _CLOCK_FIELDS}
    if isinstance(obj, list):
        return [_strip_clock(v) for v in obj]
    return obj


def compare_outputs(a: str, b: str) -> list[str]:
    """Files that differ between two run outputs (summary.json compared without its clock fields)."""
    diffs = []
    for sub in ("indices", "ledger", "aggregates"):
        names = sorted(set(os.listdir(os.path.join(a, sub))) | set(os.listdir(os.path.join(b, sub))))
        for name in names:
            pa, pb = os.path.join(a, sub, name), os.path.join(b, sub, name)
            if not (os.path.exists(pa) and os.path.exists(pb)) or open(pa, "rb").read() != open(pb, "rb").read():
                diffs.append(f"{sub}/{name}")
    with open(os.path.join(a, "summary.json")) as fa, open(os.path.join(b, "summary.json")) as fb:
        if _strip_clock(json.load(fa)) != _strip_clock(json.load(fb)):
            diffs.append("summary.json")
    return diffs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("events", nargs="?", type=int, default=300_000)
    ap.add_argument("--modules", help="comma-separated module paths to compile (default: MODULES)")
    ap.add_argument("--build", help="a tree an earlier run built (its src directory)")
    ap.add_argument("--stage-rounds", type=int, default=3, help="stage children per variant, alternating")
    ap.add_argument("--rounds", type=int, default=3, help="whole-command runs per variant, alternating (0: stages only)")
    args = ap.parse_args()
    if importlib.util.find_spec("mypyc") is None and not args.build:
        sys.exit("bench/compiled.py needs mypyc at build time: pip install mypy (and a C compiler)")
    modules = args.modules.split(",") if args.modules else list(MODULES)
    with tempfile.TemporaryDirectory(prefix="coldtrace-compiled-") as tmp:
        tree = args.build or build(tmp, modules)
        truth = write_fleet(os.path.join(tmp, "fleet"), config_for_events(args.events, files=1))
        files = sorted(os.path.join(tmp, "fleet", f) for f in os.listdir(os.path.join(tmp, "fleet"))
                       if f.startswith("payloads-"))
        n = truth["events"]
        print(f"{n:,} simulated events; pure: {ROOT}; compiled: {tree} ({len(modules)} modules)")

        pure_runs, comp_runs = [], []
        for r in range(args.stage_rounds):  # alternating children: the machine's drift hits both sides
            pair = [(ROOT, pure_runs), (tree, comp_runs)]
            for where, sink in pair if r % 2 == 0 else pair[::-1]:
                sink.append(run_stages(where, files))
        pure_s, comp_s = _best(pure_runs), _best(comp_runs)
        assert pure_s["where"].endswith(".py") and not comp_s["where"].endswith(".py"), (pure_s["where"], comp_s["where"])
        print(f"{'stage':22} {'pure µs/event':>14} {'compiled':>10} {'saved':>7}")
        for stage, p in pure_s["cpu"].items():
            c = comp_s["cpu"][stage]
            print(f"{stage:22} {p / n * 1e6:14.2f} {c / n * 1e6:10.2f} {1 - c / p:7.1%}")
        p_all, c_all = sum(pure_s["cpu"].values()), sum(comp_s["cpu"].values())
        print(f"{'all stages':22} {p_all / n * 1e6:14.2f} {c_all / n * 1e6:10.2f} {1 - c_all / p_all:7.1%}")
        print(f"stage outputs identical: {pure_s['digest'] == comp_s['digest']} "
              f"({pure_s['invocations']:,} invocations, {pure_s['spans']:,} spans)")

        if args.rounds < 1:
            return
        saved_s = (p_all - c_all)
        pure_cpu, comp_cpu = [], []
        for r in range(args.rounds):
            order = [("pure", ROOT, pure_cpu), ("compiled", tree, comp_cpu)]
            for name, where, sink in order if r % 2 == 0 else order[::-1]:
                sink.append(run_command(where, files, os.path.join(tmp, f"out-{name}")))
        p, c = min(pure_cpu), min(comp_cpu)
        print(f"the stages above are {p_all / p:.0%} of the pure command's CPU; their saving alone predicts "
              f"{saved_s / p:.1%} off the whole command")
        print(f"whole command (coldtrace run --workers 1, {n:,} events), CPU s best of {args.rounds} each: "
              f"pure {p:.2f} {[round(x, 2) for x in pure_cpu]}, compiled {c:.2f} {[round(x, 2) for x in comp_cpu]}: "
              f"{1 - c / p:.1%} saved; load {os.getloadavg()[0]:.1f}")
        diffs = compare_outputs(os.path.join(tmp, "out-pure"), os.path.join(tmp, "out-compiled"))
        print("outputs byte-identical (indices, ledger, aggregates, summary without clock fields): "
              + ("yes" if not diffs else f"NO: {', '.join(diffs)}"))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--stage-worker":
        stage_worker(sys.argv[2:])
    else:
        main()
