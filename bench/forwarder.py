"""Forwarder benchmark: cold import, one full subscription batch, peak memory, zip size.

    .venv/bin/python bench/forwarder.py [--runs 7]

Each figure is printed beside a baseline measured in the same run, so the ratio is what to
compare across machines:
- cold import of ``forwarder.handler`` in a fresh interpreter (median of runs), without boto3
  and with boto3 imported plus a Kinesis client created; baseline: a bare interpreter start;
- handling of one ~1 MiB compressed (~6 MiB JSON) DATA_MESSAGE with the default settings
  (every built-in redaction pattern on) into the null shipper — the forwarder's own work, no
  network; also with sampling on, and into the spool shipper; baseline: base64 + gunzip +
  orjson.loads of the same payload, the least any forwarder must do;
- peak Python memory while handling (tracemalloc), against the payload's own decoded size;
- the deployment zip (``forwarder/build.py``, this machine's orjson).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forwarder.build import build  # noqa: E402
from forwarder.handler import Forwarder  # noqa: E402
from forwarder.settings import Settings  # noqa: E402
from forwarder.ship import NullShipper, SpoolShipper  # noqa: E402
from pipeline.sources.simulate import FleetConfig, simulate  # noqa: E402

GROUP = "/aws/lambda/orders-api"
STREAM = "2024/05/01/[12]0225597e48f74a659916f0e482df5b92"


def fresh(code: str, runs: int) -> float:
    """Median seconds of ``code`` (which prints its own elapsed time) in fresh interpreters."""
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def big_payload(target_json_bytes: int = 6 << 20) -> tuple[dict, str]:
    """A realistic DATA_MESSAGE of one log stream: simulated Lambda lines until ~6 MiB of JSON."""
    payloads, _ = simulate(FleetConfig(seed=5, functions=12, minutes=6, invocations_per_minute=90))
    events, size, n = [], 0, 0
    while size < target_json_bytes:
        for p in payloads:
            for ev in p["logEvents"] if p["messageType"] == "DATA_MESSAGE" else ():
                n += 1
                e = {"id": f"{37000000000000000000000000000000000000000000000000000000 + n:056d}",
                     "timestamp": ev["timestamp"], "message": ev["message"]}
                events.append(e)
                size += len(orjson.dumps(e)) + 1
                if size >= target_json_bytes:
                    break
            if size >= target_json_bytes:
                break
    obj = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": GROUP, "logStream": STREAM,
           "subscriptionFilters": ["coldtrace"], "logEvents": events}
    return obj, base64.b64encode(gzip.compress(orjson.dumps(obj), 6)).decode()


def timed(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    runs = args.runs

    clock = "import time; t=time.perf_counter(); {}; print(time.perf_counter()-t)"
    base = fresh(clock.format("import base64, gzip, json"), runs)
    shared = fresh(clock.format("import pipeline.parse, pipeline.parse.awslogs"), runs)
    light = fresh(clock.format("import forwarder.handler"), runs)
    heavy = fresh(clock.format("import forwarder.handler, boto3"), runs)
    client = fresh(clock.format("import forwarder.handler; from forwarder import aws; "
                                "aws.client('kinesis', 'eu-west-1')"), runs)
    beam = fresh("import sys, forwarder.handler; print(int('apache_beam' in sys.modules or 'boto3' in sys.modules))", 1)
    print(f"cold import, median of {runs} fresh interpreters:")
    print(f"  baseline: base64, gzip, json (stdlib decoding) {base * 1000:8.1f} ms")
    print(f"  the shared parser + model + orjson             {shared * 1000:8.1f} ms")
    print(f"  forwarder.handler (no boto3)                   {light * 1000:8.1f} ms  "
          f"({(light - shared) * 1000:.1f} ms of it the forwarder's own modules)")
    print(f"  forwarder.handler + boto3                      {heavy * 1000:8.1f} ms  ({heavy / max(light, 1e-9):.1f}x the handler alone)")
    print(f"  forwarder.handler + boto3 + Kinesis client     {client * 1000:8.1f} ms")
    print(f"  handler import pulls in apache_beam or boto3:  {'YES' if beam else 'no'}")

    obj, data = big_payload()
    raw_json = orjson.dumps(obj)
    event = {"awslogs": {"data": data}}
    n = len(obj["logEvents"])
    print(f"\nbatch: {n:,} events, {len(raw_json) / (1 << 20):.2f} MiB JSON, "
          f"{len(base64.b64decode(data)) / (1 << 20):.2f} MiB gzip, {len(data) / (1 << 20):.2f} MiB base64")

    def baseline() -> None:
        orjson.loads(zlib.decompress(base64.b64decode(data), 47))

    settings = Settings.from_env({"COLDTRACE_SHIPPER": "null", "COLDTRACE_METRICS": "false"})
    fwd = Forwarder(settings, shipper=NullShipper())
    sampled = Forwarder(Settings.from_env({"COLDTRACE_SHIPPER": "null", "COLDTRACE_METRICS": "false",
                                           "COLDTRACE_SAMPLE_RATE": "0.5", "COLDTRACE_DROP_START_END": "true"}),
                        shipper=NullShipper())
    fwd.handle(event, None)
    assert fwd.last_stats.events_shipped == n and fwd.last_stats.balanced
    t_base = timed(baseline, runs)
    t_fwd = timed(lambda: fwd.handle(event, None), runs)
    t_sampled = timed(lambda: sampled.handle(event, None), runs)
    with tempfile.TemporaryDirectory() as spool:
        spooled = Forwarder(Settings.from_env({"COLDTRACE_SHIPPER": "spool", "COLDTRACE_SPOOL_DIR": spool,
                                               "COLDTRACE_METRICS": "false"}), shipper=SpoolShipper(spool))
        t_spool = timed(lambda: spooled.handle(event, None), runs)
        gz = Forwarder(Settings.from_env({"COLDTRACE_SHIPPER": "null", "COLDTRACE_METRICS": "false",
                                          "COLDTRACE_COMPRESS": "true"}), shipper=NullShipper())
        gz.shipper.compress = True
        t_gz = timed(lambda: gz.handle(event, None), runs)
    print(f"handling one batch, median of {runs}:")
    print(f"  baseline: base64 + gunzip + orjson.loads       {t_base * 1000:8.1f} ms")
    print(f"  forwarder, default settings -> null shipper    {t_fwd * 1000:8.1f} ms  ({t_fwd / t_base:.1f}x baseline, "
          f"{n / t_fwd / 1000:.0f}k events/s)")
    print(f"  forwarder, sampling 0.5 + drop START/END       {t_sampled * 1000:8.1f} ms  ({t_sampled / t_base:.1f}x)")
    print(f"  forwarder, gzip records -> null shipper        {t_gz * 1000:8.1f} ms  ({t_gz / t_base:.1f}x)")
    print(f"  forwarder -> spool shipper (NDJSON file)       {t_spool * 1000:8.1f} ms  ({t_spool / t_base:.1f}x)")

    tracemalloc.start()
    baseline()
    base_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    fwd.handle(event, None)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"peak Python memory (tracemalloc):")
    print(f"  baseline decode                                {base_peak / (1 << 20):8.1f} MiB")
    print(f"  forwarder handling                             {peak / (1 << 20):8.1f} MiB  ({peak / base_peak:.1f}x baseline)")

    with tempfile.TemporaryDirectory() as tmp:
        z = build(Path(tmp) / "forwarder.zip", arch="local", log=lambda *_: None)
        size = z.stat().st_size
    print(f"deployment zip (forwarder + pure pipeline modules + orjson): {size / 1024:.0f} KiB "
          f"({size / (5 << 20) * 100:.1f} % of the 5 MiB target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
