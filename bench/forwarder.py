"""Forwarder benchmark: cold import, one full subscription batch, peak memory, zip size.

    .venv/bin/python bench/forwarder.py [--runs 7]

Each figure is printed beside a baseline measured in the same run, so the ratio is what to
compare across machines:
- cold import of ``forwarder.handler`` in a fresh interpreter (median of runs), without boto3
  and with boto3 imported plus a Kinesis client created; baseline: a bare interpreter start;
- handling of one ~0.66 MiB compressed (~6 MiB JSON, 22,060 events) DATA_MESSAGE with the default
  settings (gzip records, every built-in redaction pattern on) into the null shipper, which packs
  and compresses as the Kinesis shipper would — the forwarder's own work, no network; also
  uncompressed, at gzip level 1, with sampling on, and into the spool shipper; baseline:
  base64 + gunzip + orjson.loads of the same payload, the least any forwarder must do;
- bytes shipped per input event and per input MiB, beside the CloudWatch payload's own gzip;
- peak Python memory while handling (tracemalloc), beside the payload's decoded size and the
  baseline's peak;
- the deployment zip (``forwarder/build.py``, this machine's orjson and zlib-ng).

Times are the process's CPU time by default (``--clock wall`` for elapsed time): on a shared
machine CPU time stays put while elapsed time swings with the other processes.
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


CLOCKS = {"cpu": "process_time", "wall": "perf_counter"}
CLOCK = "process_time"


def timed(fn, runs: int) -> float:
    clock = getattr(time, CLOCK)
    times = []
    for _ in range(runs):
        t = clock()
        fn()
        times.append(clock() - t)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--clock", choices=CLOCKS, default="cpu",
                    help="cpu (default): the process's CPU time, steady on a shared machine; wall: elapsed time")
    args = ap.parse_args()
    runs = args.runs
    global CLOCK
    CLOCK = CLOCKS[args.clock]
    print(f"clock: {args.clock} time (time.{CLOCK})")

    clock = f"import time; t=time.{CLOCK}(); {{}}; print(time.{CLOCK}()-t)"
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

    def forwarder(**env: str) -> Forwarder:
        """Into the null shipper, which packs and compresses as the Kinesis shipper would."""
        settings = Settings.from_env({"COLDTRACE_SHIPPER": "null", "COLDTRACE_METRICS": "false", **env})
        return Forwarder(settings)

    fwd = forwarder()
    plain = forwarder(COLDTRACE_COMPRESS="false")
    fast = forwarder(COLDTRACE_COMPRESS_LEVEL="1")
    sampled = forwarder(COLDTRACE_SAMPLE_RATE="0.5", COLDTRACE_DROP_START_END="true")
    shipped = {}
    for name, f in (("default", fwd), ("plain", plain), ("level1", fast)):
        f.handle(event, None)
        assert f.last_stats.events_shipped == n and f.last_stats.balanced
        shipped[name] = (f.last_stats.bytes_out, f.last_stats.records_out)
    t_base = timed(baseline, runs)
    t_fwd = timed(lambda: fwd.handle(event, None), runs)
    t_plain = timed(lambda: plain.handle(event, None), runs)
    t_fast = timed(lambda: fast.handle(event, None), runs)
    t_sampled = timed(lambda: sampled.handle(event, None), runs)
    with tempfile.TemporaryDirectory() as spool:
        spooled = forwarder(COLDTRACE_SHIPPER="spool", COLDTRACE_SPOOL_DIR=spool)
        t_spool = timed(lambda: spooled.handle(event, None), runs)
    print(f"handling one batch (warm), median of {runs}:")
    print(f"  baseline: base64 + gunzip + orjson.loads       {t_base * 1000:8.1f} ms")
    print(f"  forwarder, default settings (gzip level 6)     {t_fwd * 1000:8.1f} ms  ({t_fwd / t_base:.1f}x baseline, "
          f"{n / t_fwd / 1000:.0f}k events/s)")
    print(f"  forwarder, COLDTRACE_COMPRESS=false            {t_plain * 1000:8.1f} ms  ({t_plain / t_base:.1f}x; "
          f"gzip level 6 costs {(t_fwd - t_plain) * 1000:.0f} ms of CPU)")
    print(f"  forwarder, COLDTRACE_COMPRESS_LEVEL=1          {t_fast * 1000:8.1f} ms  ({t_fast / t_base:.1f}x; "
          f"level 1 costs {(t_fast - t_plain) * 1000:.0f} ms)")
    print(f"  forwarder, sampling 0.5 + drop START/END       {t_sampled * 1000:8.1f} ms  ({t_sampled / t_base:.1f}x)")
    print(f"  forwarder -> spool shipper (gzip NDJSON file)  {t_spool * 1000:8.1f} ms  ({t_spool / t_base:.1f}x)")

    cw_gzip = len(base64.b64decode(data))
    in_mib = len(raw_json) / (1 << 20)
    print("bytes shipped to Kinesis (data, 1 MB records), beside the CloudWatch payload's own gzip:")
    print(f"  baseline: CloudWatch's gzip of the batch       {cw_gzip:>10,} B  {cw_gzip / n:6.1f} B/event  "
          f"{cw_gzip / in_mib / 1024:6.1f} KiB per input MiB")
    for name, label in (("default", "default settings (gzip level 6)"), ("level1", "COLDTRACE_COMPRESS_LEVEL=1"),
                        ("plain", "COLDTRACE_COMPRESS=false")):
        b, recs = shipped[name]
        print(f"  {label:<45} {b:>10,} B  {b / n:6.1f} B/event  {b / in_mib / 1024:6.1f} KiB per input MiB  "
              f"({b / cw_gzip:.2f}x CloudWatch's gzip, {recs} records)")

    tracemalloc.start()
    baseline()
    base_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    fwd.handle(event, None)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    plain.handle(event, None)
    peak_plain = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    mib = 1 << 20
    print("peak Python memory while handling (tracemalloc), beside the decoded payload:")
    print(f"  the decoded payload (its JSON bytes)           {len(raw_json) / mib:8.1f} MiB")
    print(f"  baseline: base64 + gunzip + orjson.loads       {base_peak / mib:8.1f} MiB  "
          f"(orjson's parse of the whole document)")
    print(f"  forwarder, default settings                    {peak / mib:8.1f} MiB  ({peak / base_peak:.2f}x baseline, "
          f"{peak / len(raw_json):.1f}x the decoded payload)")
    print(f"  forwarder, COLDTRACE_COMPRESS=false            {peak_plain / mib:8.1f} MiB  ({peak_plain / base_peak:.2f}x)")

    with tempfile.TemporaryDirectory() as tmp:
        z = build(Path(tmp) / "forwarder.zip", arch="local", log=lambda *_: None)
        size = z.stat().st_size
    print(f"deployment zip (forwarder + pure pipeline modules + orjson + zlib-ng): {size / 1024:.0f} KiB "
          f"({size / (5 << 20) * 100:.1f} % of the 5 MiB target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
