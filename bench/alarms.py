"""What detection, window metrics and alarms cost, against baselines measured in the same run.

1. Percentiles: the mergeable sketch (add every value, read p50/p95/p99) against the exact way
   (keep every value, sort, index), on the same values; plus the merge of 60 per-minute sketches
   and the largest relative error seen.
2. The alarm path of the pipeline, pure (no Beam): detect + window figures + rule evaluation over
   the invocations of a simulated fleet, against the parse + fold that built those invocations.

Run: ``python bench/alarms.py [VALUES] [EVENTS]`` (defaults 1,000,000 and 200,000).
"""

from __future__ import annotations

import math
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

# bench/pipeline.py is named like the package: keep bench/ off the import path.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

from pipeline.detect import observe_invocation, observe_throttles
from pipeline.invocations import dedupe_sorted, fold_stream
from pipeline.metrics import window_points
from pipeline.model import DeadLetter, stream_key
from pipeline.parse import parse_event
from pipeline.rules import default_rules, evaluate_points
from pipeline.sketch import PercentileSketch
from pipeline.sources.formats import read_stream
from pipeline.sources.simulate import config_for_events, write_fleet

QS = (0.5, 0.95, 0.99)


def bench_sketch(n: int) -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(math.log(80), 0.9) for _ in range(n)]
    t = time.perf_counter()
    ordered = sorted(values)
    exact = [ordered[max(0, math.ceil(q * n) - 1)] for q in QS]
    t_exact = time.perf_counter() - t
    t = time.perf_counter()
    sketch = PercentileSketch()
    sketch.add_all(values)
    approx = sketch.quantiles(QS)
    t_sketch = time.perf_counter() - t
    parts = []
    for k in range(60):
        s = PercentileSketch()
        s.add_all(values[k::60])
        parts.append(s)
    t = time.perf_counter()
    merged = PercentileSketch()
    for s in parts:
        merged.merge(s)
    merged.quantiles(QS)
    t_merge = time.perf_counter() - t
    err = max(abs(a - e) / e for a, e in zip(approx, exact))
    print(f"percentiles of {n:,} values: exact sort {t_exact:.3f} s, sketch {t_sketch:.3f} s "
          f"({t_sketch / t_exact:.1f}x the sort; {n / t_sketch:,.0f} values/s), max relative error "
          f"{100 * err:.3f} %, {len(sketch.buckets):,} buckets instead of {n:,} values; "
          f"merge of 60 sketches + read {1000 * t_merge:.2f} ms")


def bench_alarm_path(events: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        truth = write_fleet(tmp, config_for_events(events, seed=7, files=4))
        streams = defaultdict(list)
        for path in sorted(Path(tmp).glob("payloads-*.ndjson")):
            with open(path, "rb") as fh:
                for item in read_stream(fh, str(path), truth["config"]["account"], truth["config"]["region"]):
                    if not isinstance(item, DeadLetter):
                        for ev in item:
                            streams[stream_key(ev)].append(ev)
    t = time.perf_counter()
    parsed, invocations = [], []
    for evs in streams.values():
        evs = [parse_event(ev) for ev in dedupe_sorted(evs)]
        parsed.append(evs)
        invocations.extend(fold_stream(evs))
    t_fold = time.perf_counter() - t
    t = time.perf_counter()
    observations = [o for evs in parsed for o in observe_throttles(evs)]
    observations += [o for inv in invocations for o in observe_invocation(inv)]
    points = window_points(observations)
    t_metrics = time.perf_counter() - t
    t = time.perf_counter()
    by_function = defaultdict(list)
    for p in points:
        by_function[p.function_name].append(p)
    rules = default_rules()
    horizon = max(p.window_end_ms for p in points)
    alarms = [a for fn, ps in by_function.items() for a in evaluate_points(fn, ps, rules, horizon)]
    t_rules = time.perf_counter() - t
    n_ev = sum(len(e) for e in parsed)
    print(f"alarm path over {n_ev:,} events / {len(invocations):,} invocations: parse + fold {t_fold:.2f} s "
          f"(baseline); detect + window figures {t_metrics:.2f} s ({t_metrics / t_fold:.2f}x the baseline, "
          f"{len(invocations) / t_metrics:,.0f} invocations/s, {len(points):,} points); rules "
          f"{1000 * t_rules:.1f} ms for {len(by_function)} functions x {len(rules.rules)} rules "
          f"({len(alarms)} transitions)")


if __name__ == "__main__":
    bench_sketch(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
    bench_alarm_path(int(sys.argv[2]) if len(sys.argv) > 2 else 200_000)
