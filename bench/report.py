"""Cost of seeing a run: the HTML report and the live progress side channel, with baselines.

Simulates a fleet of about N log events (default 300,000; not timed) and runs the pipeline once
(not timed). Then, median of 3:
- the report: load the index files, compute every view, render the page — against the baseline
  of only parsing the invocations index (orjson), which the report cannot avoid;
- progress marks: reading every payload file with a ProgressMarks fed per batch, as the reader
  DoFn does — against the same read with no marks.
Run: ``python bench/report.py [N]``.
"""

from __future__ import annotations

import glob
import os
import statistics
import sys
import tempfile
import time

if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

from pipeline.local_index import read_index  # noqa: E402
from pipeline.model import DeadLetter  # noqa: E402
from pipeline.progress_channel import ProgressMarks  # noqa: E402
from pipeline.report.html import render  # noqa: E402
from pipeline.report.load import index_file, load_run  # noqa: E402
from pipeline.report.views import build_report  # noqa: E402
from pipeline.run import RunConfig, run  # noqa: E402
from pipeline.sources.formats import read_stream  # noqa: E402
from pipeline.sources.simulate import config_for_events, write_fleet  # noqa: E402


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def read_all(files: list[str], marks: ProgressMarks | None) -> int:
    n = 0
    for path in files:
        with open(path, "rb") as f:
            for item in read_stream(f, path):
                if isinstance(item, DeadLetter) or not item:
                    continue
                n += len(item)
                if marks is not None:
                    marks.add(len(item), max(ev.timestamp for ev in item))
    if marks is not None:
        marks.close()
    return n


def main() -> None:
    n_events = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    with tempfile.TemporaryDirectory() as tmp:
        truth = write_fleet(os.path.join(tmp, "input"), config_for_events(n_events, seed=3))
        files = sorted(glob.glob(os.path.join(tmp, "input", "payloads-*.ndjson")))
        out = os.path.join(tmp, "out")
        run(RunConfig(inputs=files, out_dir=out, account="123456789012", region="eu-west-1"))
        inv_path = index_file(out, "coldtrace-invocations")
        print(f"{truth['events']:,} log events, {len(truth['invocations']):,} invocations, "
              f"{os.path.getsize(inv_path) / 1e6:,.1f} MB invocations index")

        base, docs = timed(lambda: [d for _, d in read_index(inv_path)])
        load_t, run_docs = timed(lambda: load_run(out))
        views_t, data = timed(lambda: build_report(run_docs))
        render_t, page = timed(lambda: render(data))
        total = load_t + views_t + render_t
        print(f"report: baseline parse of the invocations index {base:.2f} s ({len(docs) / base:,.0f} docs/s)")
        print(f"  load every index {load_t:.2f} s, views {views_t:.2f} s, render {render_t:.3f} s: "
              f"total {total:.2f} s = {total / base:.1f}x the baseline; page {len(page) / 1e3:,.0f} kB")

        plain, n = timed(lambda: read_all(files, None))
        marked, _ = timed(lambda: read_all(files, ProgressMarks(os.path.join(tmp, "marks"))))
        print(f"progress marks: read {n:,} events {plain:.2f} s without, {marked:.2f} s with marks "
              f"({marked / plain:.3f}x)")


if __name__ == "__main__":
    main()
