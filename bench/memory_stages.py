"""Where the batch pipeline's memory goes, stage by stage, on FnApiRunner.

Simulates a fleet of N log events (default 1,000,000; not timed), runs ``pipeline.run.run`` with
one in-process worker (everything in this one process, so its RSS is the whole run's; or with
``N 2``, two worker processes as ``--workers auto`` picks: then the RSS is the runner's) and prints,
for each bundle FnApiRunner executes: the fused stage, its wall time, this process's RSS after it,
and what the runner holds between stages at that moment — the elements and bytes of every buffer
still waiting for a consuming stage (``GroupingBuffer``: decoded values per key; ``ListBuffer``:
encoded bytes). Run it at two sizes to see which buffers grow with the input:
``python bench/memory_stages.py 250000`` then ``python bench/memory_stages.py 1000000``.
"""

from __future__ import annotations

import glob
import os
import sys
import tempfile
import time

# This file sits beside modules named like the package's: keep bench/ off the import path.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.runners.portability.fn_api_runner.execution import GroupingBuffer, ListBuffer

from pipeline.run import RunConfig, run
from pipeline.sources.simulate import config_for_events, write_fleet  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib() -> float:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def deep_size(obj, seen=None) -> int:
    """Bytes of Python objects reachable from ``obj`` through tuples, lists, dicts and slots."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, (tuple, list, set, frozenset)):
        size += sum(deep_size(x, seen) for x in obj)
    elif isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif hasattr(obj, "__slots__"):
        size += sum(deep_size(getattr(obj, a, None), seen) for a in obj.__slots__)
    return size


def _buffer_size(buf) -> tuple[int, int]:
    """(elements, bytes) of one runner-side buffer: encoded bytes of a ``ListBuffer``; the decoded
    values a ``GroupingBuffer`` keeps per key (deep size of a sample of 500, scaled up)."""

    if isinstance(buf, ListBuffer):
        return len(buf._inputs), sum(len(b) for b in buf._inputs)
    if isinstance(buf, GroupingBuffer):
        count = sum(len(v) for v in buf._table.values())
        sample = [x for v in list(buf._table.values())[:500] for x in v[:1]]
        size = int(sum(deep_size(x) for x in sample) / len(sample) * count) if sample else 0
        size += sum(len(k) + 50 for k in buf._table)
        if buf._grouped_output:
            size += sum(len(b) for part in buf._grouped_output for b in part)
        return count, size
    return 0, 0


def held(ctx) -> list[tuple[str, int, int]]:
    """Every buffer the runner holds for a stage not run yet: (consumer, elements, bytes)."""
    out = []
    seen = set()
    for queue in (ctx.queues.ready_inputs, ctx.queues.watermark_pending_inputs):
        for item in list(queue._q):
            key, data_input = item
            stage = key if isinstance(key, str) else key[0]
            for transform, buf in data_input.data.items():
                if id(buf) in seen:
                    continue
                seen.add(id(buf))
                n, size = _buffer_size(buf)
                if n:
                    out.append((f"{stage[:60]}/{transform[-30:]}", n, size))
    return sorted(out, key=lambda r: -r[2])


def patch_runner(log: list) -> None:
    original = fn_runner.FnApiRunner._execute_bundle

    def timed(self, ctx, bcm, bundle_input):
        t = time.perf_counter()
        result = original(self, ctx, bcm, bundle_input)
        log.append((bcm.stage.name, time.perf_counter() - t, rss_mib(), held(ctx)))
        return result

    fn_runner.FnApiRunner._execute_bundle = timed


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1

    log: list = []
    patch_runner(log)
    with tempfile.TemporaryDirectory() as tmp:
        truth = write_fleet(os.path.join(tmp, "fleet"), config_for_events(n, files=8))
        files = sorted(glob.glob(os.path.join(tmp, "fleet", "payloads-*.ndjson")))
        print(f"{truth['events']:,} events; RSS before the run {rss_mib():.0f} MiB", flush=True)
        t = time.perf_counter()
        run(RunConfig(inputs=files, out_dir=os.path.join(tmp, "out"), direct_num_workers=workers))
        took = time.perf_counter() - t
    peak = 0.0
    for stage, secs, rss, buffers in log:
        peak = max(peak, rss)
        if secs < 0.5 and not any(size > 8 << 20 for _, _, size in buffers):
            continue
        top = "; ".join(f"{name} {elems:,} el {size / 2**20:.0f} MiB" for name, elems, size in buffers[:3])
        total = sum(size for _, _, size in buffers) / 2**20
        print(f"{secs:6.1f} s  RSS {rss:6.0f} MiB  {stage[:70]}\n          held {total:.0f} MiB in {len(buffers)}: {top}")
    with open("/proc/self/status") as f:
        hwm = next(line.split()[1] for line in f if line.startswith("VmHWM"))
    print(f"total {took:.1f} s; RSS peak after a bundle {peak:.0f} MiB, VmHWM {int(hwm) / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
