"""Trace stitching at scale: 10^6 invocations across 10^5 traces, time and peak memory.

Invocations are generated directly (not simulated from logs): each trace is a chain of ten
functions cut by two queue hops into three X-Ray traces and joined by a correlation id (the
last member carries only its X-Ray id), with explicit parent ids inside each X-Ray trace and
3 % cold starts; a trace starts every 50 ms. Each phase runs in a fresh process, so its peak
RSS (``resource.getrusage``) is its own:

- generate: make the invocations and drop them (baseline: the cost of the input itself)
- hold: keep them all in a list (baseline: the memory of the input itself)
- stitch: pure batch stitcher (union of keys over everything, then spans)
- gap: pure event-time stitcher with a gap and a retention (what the streaming shell does):
  memory holds the traces of the last gap + retention only
- beam: ``StitchTraces`` (the batch transform) on FnApiRunner, input generated in the pipeline

Run: ``python bench/traces.py [INVOCATIONS] [TRACES] [--beam-invocations N]``.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import time
from typing import Iterator

# This file is named like nothing in the package, but keep bench/ off the import path anyway.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.model import Invocation  # noqa: E402
from pipeline.stitch import group_by_keys, trace_spans
from pipeline.stitch.gap import GapStitcher
from pipeline.transforms.stitch_traces import StitchTraces

T0 = 1714557600000
TRACE_EVERY_MS = 50
HOPS = (3, 7)            # members that start a new X-Ray trace (reached through a queue)
GAP_MS, RETENTION_MS = 60_000, 5 * 60_000


def chain(t: int, length: int, rng: random.Random) -> list[Invocation]:
    """The members of trace ``t``, in start order."""
    out: list[Invocation] = []
    start, seg, corr = T0 + t * TRACE_EVERY_MS, 0, f"corr-{t:08d}"
    parent: str | None = None
    epoch = start // 1000
    for i in range(length):
        if i in HOPS:
            seg, parent = seg + 1, None
            start += rng.randint(20, 800)
            epoch = start // 1000  # a new X-Ray trace: its id holds its own start second
        else:
            start += rng.randint(1, 20)
        dur = rng.randint(20, 300)
        cold = rng.random() < 0.03
        init = float(rng.randint(150, 800)) if cold else None
        rid = f"{t:08x}-{i:04x}-4000-8000-{rng.getrandbits(48):012x}"
        out.append(Invocation(
            function_name=f"fn-{i}", request_id=rid, log_group=f"/aws/lambda/fn-{i}",
            log_stream=f"2024/05/01/[$LATEST]{t % 97:032x}", function_version="$LATEST",
            account="123456789012", region="eu-west-1", start_ms=start, end_ms=start + dur,
            duration_ms=float(dur), memory_size_mb=256, init_duration_ms=init,
            init_start_ms=int(start - init) if init else None,
            cold_start_kind="on-demand" if cold else "none", outcome="success",
            xray_trace_id=f"1-{epoch & 0xffffffff:08x}-{t:012x}{seg:012x}",
            correlation_ids=[] if i == length - 1 else [corr], parent_request_id=parent))
        parent = rid
    return out


def invocations(n: int, traces: int, first: int = 0, count: int | None = None) -> Iterator[Invocation]:
    """Traces ``first .. first+count`` of ``traces``, each of n // traces members."""
    length = max(1, n // traces)
    for t in range(first, first + (traces if count is None else count)):
        yield from chain(t, length, random.Random(t))


# -- phases (each in its own process) ---------------------------------------------------------
def phase_generate(n: int, traces: int) -> dict:
    return {"invocations": sum(1 for _ in invocations(n, traces))}


def phase_hold(n: int, traces: int) -> dict:
    held = list(invocations(n, traces))
    return {"invocations": len(held)}


def phase_stitch(n: int, traces: int) -> dict:
    held = list(invocations(n, traces))
    spans = n_traces = 0
    for members in group_by_keys(held):
        spans += len(trace_spans(members))
        n_traces += 1
    return {"invocations": len(held), "traces": n_traces, "spans": spans}


def phase_gap(n: int, traces: int) -> dict:
    g = GapStitcher(gap_ms=GAP_MS, retention_ms=RETENTION_MS)
    spans = n_traces = seen = most_open = 0
    for inv in invocations(n, traces):
        g.add(inv)
        seen += 1
        if seen % 1000 == 0:  # the watermark trails the newest start by a minute
            for tr in g.advance(inv.start_ms - 60_000):
                spans, n_traces = spans + len(tr), n_traces + 1
            most_open = max(most_open, len(g))
    for tr in g.close():
        spans, n_traces = spans + len(tr), n_traces + 1
    return {"invocations": seen, "traces": n_traces, "spans": spans, "most_open_traces": most_open}


def phase_beam(n: int, traces: int) -> dict:
    blocks, per = 200, -(-traces // 200)
    opts = PipelineOptions(["--runner=apache_beam.runners.portability.fn_api_runner.FnApiRunner"])
    counted: dict[str, int] = {}
    with beam.Pipeline(options=opts) as p:
        spans = (p | beam.Create(range(blocks))
                 | "Generate" >> beam.FlatMap(lambda b: invocations(n, traces, b * per, max(0, min(per, traces - b * per))))
                 | "StitchTraces" >> StitchTraces())
        (spans | beam.Map(lambda s: (s.trace_id, 1)) | beam.combiners.Count.PerKey()
         | beam.Map(lambda kv: ("x", (1, kv[1]))) | beam.GroupByKey()
         | beam.Map(lambda kv: counted.update(traces=sum(a for a, _ in kv[1]), spans=sum(b for _, b in kv[1]))))
    return counted


PHASES = {"generate": phase_generate, "hold": phase_hold, "stitch": phase_stitch, "gap": phase_gap,
          "beam": phase_beam}


def child(name: str, n: int, traces: int) -> None:
    t = time.perf_counter()
    facts = PHASES[name](n, traces)
    facts["seconds"] = time.perf_counter() - t
    facts["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(facts))


def measure(name: str, n: int, traces: int) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--phase", name, str(n), str(traces)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--phase":
        child(argv[1], int(argv[2]), int(argv[3]))
        return
    beam_n = None
    if "--beam-invocations" in argv:
        i = argv.index("--beam-invocations")
        beam_n = int(argv[i + 1])
        del argv[i:i + 2]
    n = int(argv[0]) if argv else 1_000_000
    traces = int(argv[1]) if len(argv) > 1 else n // 10
    beam_n = beam_n or n
    print(f"{n:,} invocations across {traces:,} traces ({n // traces} members, 3 X-Ray traces joined by a "
          f"correlation id, one starting every {TRACE_EVERY_MS} ms); gap stitcher: gap {GAP_MS // 1000} s, "
          f"retention {RETENTION_MS // 1000} s")
    base = measure("generate", n, traces)
    rows = [("generate only (baseline)", base, n), ("generate + hold all (baseline)", measure("hold", n, traces), n),
            ("pure batch stitcher", measure("stitch", n, traces), n),
            ("pure gap stitcher (streaming)", measure("gap", n, traces), n),
            (f"StitchTraces, FnApiRunner ({beam_n:,})", measure("beam", beam_n, beam_n // (n // traces)), beam_n)]
    print(f"{'phase':40s} {'seconds':>8s} {'invocations/s':>14s} {'stitch s/baseline':>18s} {'peak RSS MB':>12s}")
    for label, r, count in rows:
        extra = r["seconds"] - base["seconds"] * count / n
        ratio = f"{extra / (base['seconds'] * count / n):.1f}x" if label.startswith(("pure", "Stitch")) else "-"
        print(f"{label:40s} {r['seconds']:8.1f} {count / r['seconds']:14,.0f} {ratio:>18s} {r['peak_rss_mb']:12,.0f}")
        facts = {k: v for k, v in r.items() if k not in ("seconds", "peak_rss_mb", "invocations")}
        if facts:
            print(f"{'':40s} {facts}")
    print(f"cores: {os.cpu_count()}, load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
