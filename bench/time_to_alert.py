"""Time to alert: from the end of the deciding minute to the webhook call, live.

The experiment of the issue on on-time alarms, scripted:

- moto's server on 127.0.0.1 with a one-shard Kinesis stream ``live``;
- a producer writes live CloudWatch Logs subscription payloads (current timestamps, one invocation per
  second for ``billing`` and ``catalog``: START, an application line, END, REPORT as the Python
  runtime writes them) and hands them to the real forwarder, which puts them on the stream;
- from a known time (25 s into a minute, after a healthy warm-up) ``billing`` fails every other
  invocation (``[ERROR] ValueError: ...`` with its traceback) for ``--burst`` minutes;
- one streaming loop per variant (``coldtrace run --streaming --input kinesis://live
  --start-position trim_horizon --webhook-url-env ...``) runs beside it with default settings, each
  with its own ``--out``, notifying a local webhook that records when each call arrived.

The deciding minute is computed from what was shipped, by the rule's own arithmetic (M of the last N
one-minute datapoints over the threshold, ``min_samples``/``min_count`` respected), so the figure does
not depend on a hand-made schedule. Printed per variant: the deciding minute, when the ALARM call
reached the webhook, and the seconds between the end of the deciding minute and that call.

Variants (``--variant NAME=EXTRA ARGS``, repeatable; a name starting ``1-of-1`` is judged by the
1-of-1 arithmetic): by default ``default`` (the built-in rules) and ``1-of-1`` (error-rate with
``evaluation_periods: 1, datapoints_to_alarm: 1``), each also with ``--no-corrections`` (alarms
evaluate a minute only after the allowed lateness, once: the behaviour before on-time firing), all
four in the same minutes. Also printed per loop: the delivery delay its watermark was held back by
(measured: the p99 of arrival − event time per shard; ``coldtrace-pipeline``'s ``delivery_delay_ms``).

Run: ``python bench/time_to_alert.py [--burst 3] [--timeout 900]`` (about 10-15 minutes: it is live).

Measured (2-core shared machine, load average 10-17 from other jobs):
- before on-time firing (main, ``--warmup 30``, side by side with the on-time branch): 368.4 s (default
  rule) and 369.2 s (1-of-1) after the deciding minute ended; with on-time firing and corrections,
  watermark still held back by the fixed 60 s ``--delivery-delay``: 66.7 s and 65.3 s;
- with the watermark held back by the measured delivery delay (p99 of arrival − event time, here
  under a second, so the 5 s floor), the four default variants in one run: 13.0 s (default rule) and
  17.1 s (1-of-1); corrections switched off (``--no-corrections``), same minutes: 323.1 s and 318.8 s.
What remains is the 5 s floor plus a catch-up round or two (a round takes 3-6 s on this machine).
"""

from __future__ import annotations

import argparse
import http.server
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field

# bench/ goes last on the import path: its helper (_live) is found, its file names never shadow a module.
HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0]) == HERE:
    sys.path.pop(0)
sys.path.append(HERE)

import boto3  # noqa: E402
from _live import ACCOUNT, REGION, live_forwarder, ship_payload, start_moto, use_bench_credentials  # noqa: E402

from forwarder.handler import Forwarder  # noqa: E402
from pipeline.local_index import index_path, latest_docs  # noqa: E402
from pipeline.model import INDEX_METRICS  # noqa: E402
from pipeline.windows import PIPELINE_FUNCTION  # noqa: E402

STREAM = "live"
FUNCTIONS = ("billing", "catalog")
FAILING = "billing"
WEBHOOK_ENV = "COLDTRACE_BENCH_WEBHOOK"
ONE_OF_ONE_RULES = "rules:\n  error-rate:\n    evaluation_periods: 1\n    datapoints_to_alarm: 1\n"


@dataclass
class Webhook:
    """A local Slack-compatible endpoint that records (arrival time, body) of every call."""

    calls: list[tuple[float, str]] = field(default_factory=list)

    def start(self) -> str:
        calls = self.calls

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
                calls.append((time.time(), body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def first_alarm(self, function: str, since: int = 0) -> float | None:
        for at, body in self.calls[since:]:
            if function in body and "ALARM" in body and "error-rate" in body:
                return at
        return None


class Producer:
    """One invocation per second per function, shipped through the real forwarder as it happens."""

    def __init__(self, fwd: Forwarder, burst_start_s: float, burst_end_s: float, seed: int = 7):
        self.fwd = fwd
        self.burst = (burst_start_s, burst_end_s)
        self.rng = random.Random(seed)
        self.streams = {f: f"2026/12/03/[$LATEST]{uuid.UUID(int=self.rng.getrandbits(128)).hex}" for f in FUNCTIONS}
        self.per_minute: dict[tuple[str, int], list[int]] = {}  # (function, minute ms) -> [invocations, errors]
        self.stop = threading.Event()
        self.seq = 0

    def _event(self, ms: int, message: str) -> dict:
        self.seq += 1
        return {"id": f"{ms:020d}{self.seq:036d}", "timestamp": ms, "message": message}

    def _invocation(self, function: str, ms: int, fail: bool) -> list[dict]:
        rid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"
        duration = 20 + self.rng.random() * 30
        events = [self._event(ms, f"START RequestId: {rid} Version: $LATEST\n"),
                  self._event(ms + 2, f"[INFO]\t{iso}\t{rid}\thandling order\n")]
        if fail:
            events.append(self._event(ms + 15, "[ERROR] ValueError: payment declined\nTraceback (most recent call last):\n"
                                               '  File "/var/task/app.py", line 7, in handler\n'
                                               '    raise ValueError("payment declined")\n'))
        end = ms + int(duration) + 1
        events.append(self._event(end, f"END RequestId: {rid}\n"))
        events.append(self._event(end, f"REPORT RequestId: {rid}\tDuration: {duration:.2f} ms\t"
                                       f"Billed Duration: {int(duration) + 1} ms\tMemory Size: 256 MB\t"
                                       f"Max Memory Used: 71 MB\t\n"))
        minute = ms // 60_000 * 60_000
        counts = self.per_minute.setdefault((function, minute), [0, 0])
        counts[0] += 1
        counts[1] += int(fail)
        return events

    def run(self) -> None:
        tick = 0
        next_at = time.time()
        while not self.stop.is_set():
            now = time.time()
            ms = int(now * 1000)
            for function in FUNCTIONS:
                fail = function == FAILING and self.burst[0] <= now < self.burst[1] and tick % 2 == 0
                ship_payload(self.fwd, {"messageType": "DATA_MESSAGE", "owner": ACCOUNT,
                                        "logGroup": f"/aws/lambda/{function}", "logStream": self.streams[function],
                                        "subscriptionFilters": ["coldtrace"],
                                        "logEvents": self._invocation(function, ms, fail)})
            tick += 1
            next_at += 1.0
            self.stop.wait(max(0.0, next_at - time.time()))


def deciding_minute(per_minute: dict, function: str, threshold: float, m: int, n: int,
                    min_samples: int, min_count: int) -> int | None:
    """The first minute whose datapoint completes M breaching datapoints of the last N (ms), or None."""
    minutes = sorted(minute for f, minute in per_minute if f == function)
    breaching: list[bool] = []
    for minute in minutes:
        inv, err = per_minute[(function, minute)]
        breaching.append(inv >= min_samples and err >= min_count and err / inv > threshold)
        if sum(breaching[-n:]) >= m:
            return minute
    return None


def start_loop(name: str, extra: list[str], url: str, out: str, hook: str) -> subprocess.Popen:
    env = dict(os.environ, **{WEBHOOK_ENV: hook})
    cmd = [sys.executable, "-m", "pipeline.cli", "run", "--streaming", "--input", f"kinesis://{STREAM}",
           "--start-position", "trim_horizon", "--endpoint-url", url, "--region", REGION, "--out", out,
           "--webhook-url-env", WEBHOOK_ENV, "--quiet", *extra]
    os.makedirs(os.path.dirname(out), exist_ok=True)
    log = open(os.path.join(os.path.dirname(out), f"{name}.log"), "wb")
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def measured_delay(out: str) -> str:
    """The delivery delay a loop's watermark was held back by, per minute (its coldtrace-pipeline points)."""
    path = index_path(out, INDEX_METRICS)
    if not os.path.exists(path):
        return "no metric points written"
    delays = sorted(doc["aws.lambda.metrics.delivery_delay_ms"] for doc in latest_docs(path).values()
                    if doc.get("faas.name") == PIPELINE_FUNCTION and "aws.lambda.metrics.delivery_delay_ms" in doc)
    if not delays:
        return "no delivery delay measured"
    return (f"watermark held back by the measured delivery delay: {delays[len(delays) // 2] / 1000:.1f} s median, "
            f"{delays[-1] / 1000:.1f} s max over {len(delays)} minutes (ceiling --delivery-delay 60 s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--burst", type=float, default=3.0, help="minutes of failures (default 3)")
    ap.add_argument("--warmup", type=float, default=60.0, help="at least this many healthy seconds first")
    ap.add_argument("--timeout", type=float, default=900.0, help="give up this many seconds after the deciding minute")
    ap.add_argument("--variant", action="append", default=None, metavar="NAME=ARGS",
                    help="a loop to run with these extra arguments (default: default= and 1-of-1=--rules FILE)")
    args = ap.parse_args()
    use_bench_credentials()
    tmp = tempfile.mkdtemp(prefix="coldtrace-bench-alert-")
    rules_1of1 = os.path.join(tmp, "one-of-one.yaml")
    with open(rules_1of1, "w") as f:
        f.write(ONE_OF_ONE_RULES)
    variants = [v.split("=", 1) for v in (args.variant or [
        "default=", f"1-of-1=--rules {rules_1of1}",
        "default-no-corrections=--no-corrections", f"1-of-1-no-corrections=--rules {rules_1of1} --no-corrections"])]

    proc, url = start_moto()
    hooks: dict[str, Webhook] = {}
    loops: dict[str, subprocess.Popen] = {}
    producer = None
    try:
        boto3.client("kinesis", region_name=REGION, endpoint_url=url).create_stream(StreamName=STREAM, ShardCount=1)
        fwd = live_forwarder(url, STREAM)
        now = time.time()
        burst_start = (int(now + args.warmup) // 60 + 1) * 60 + 25   # 25 s into a minute, after the warm-up
        burst_end = burst_start + args.burst * 60
        producer = Producer(fwd, burst_start, burst_end)
        threading.Thread(target=producer.run, daemon=True).start()
        for name, extra in variants:
            hooks[name] = Webhook()
            loops[name] = start_loop(name, shlex.split(extra), url, os.path.join(tmp, name, "out"), hooks[name].start())
        print(f"producer and {len(loops)} loop(s) started; {FAILING} fails every other invocation from "
              f"{time.strftime('%H:%M:%S', time.gmtime(burst_start))} for {args.burst:g} min (UTC)", flush=True)

        results: dict[str, str] = {}
        deadline = burst_end + 600 + args.timeout
        while len(results) < len(loops) and time.time() < deadline:
            time.sleep(1.0)
            if time.time() > burst_end + 60:
                producer.stop.set()   # a minute of recovery shipped; the rest is the loops' work
            for name, hook in hooks.items():
                if name in results:
                    continue
                if loops[name].poll() is not None:
                    results[name] = f"loop exited with status {loops[name].returncode} (see {tmp}/{name}/{name}.log)"
                    continue
                at = hook.first_alarm(FAILING)
                if at is None:
                    continue
                m, n = (1, 1) if name.startswith("1-of-1") else (3, 5)   # the default error-rate rule: 3 of 5
                decided = deciding_minute(producer.per_minute, FAILING, 0.15, m, n, 10, 3)
                if decided is None:
                    results[name] = "alarm without a deciding minute in the shipped data (check the rule)"
                    continue
                end_s = decided / 1000 + 60
                results[name] = (f"deciding minute {time.strftime('%H:%M', time.gmtime(decided / 1000))}-"
                                 f"{time.strftime('%H:%M', time.gmtime(end_s))}, webhook at "
                                 f"{time.strftime('%H:%M:%S', time.gmtime(at))}: "
                                 f"{at - end_s:,.1f} s after the deciding minute ended "
                                 f"({at - burst_start:,.1f} s after the errors began)")
        for name, _ in variants:
            print(f"{name:>22}: {results.get(name, 'no ALARM call before the timeout')}")
        for name, _ in variants:
            print(f"{name:>22}: {measured_delay(os.path.join(tmp, name, 'out'))}")
    finally:
        if producer is not None:
            producer.stop.set()
        for p in loops.values():
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        proc.terminate()
        if os.environ.get("COLDTRACE_BENCH_KEEP"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
