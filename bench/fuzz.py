"""A million generated hostile lines through the parser, the document renderer and the decoder.

Lines are made by a seeded generator that knows what Lambda writes (REPORT/START/END/INIT lines,
platform.* JSON records, runtime prefixes, application JSON, timeouts, runtime exits) and then
breaks it: numbers replaced by ``nan``/``-1e999``/400 digits, fields reordered, tabs turned to
spaces, bytes flipped, truncated, NULs and lone control characters inserted, JSON nested 10^4 deep,
wrong JSON types, random Unicode. Every line must parse without raising, render a document that
serialises, and carry no impossible REPORT number; one line in a hundred also travels through a
subscription payload (gzip + base64) and must decode back to the same event. Event times are
random too (any 64-bit value).

Baseline, in the same run: the parser over the same number of well-formed lines of the simulated
fleet — the ratio says whether hostile input costs more than real input (a regex gone quadratic
would show here first). Prints lines/s, the ratio, the slowest lines, and every failure.

Run: ``python bench/fuzz.py [N] [SEED]`` (default 1,000,000 lines, seed 1). Exit code 1 on any failure.
"""

from __future__ import annotations

import base64
import gzip
import math
import os
import random
import sys
import time
import traceback

# This file is named like nothing in the package, but keep bench/ off the import path anyway.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import orjson  # noqa: E402

from pipeline.model import LogEvent  # noqa: E402
from pipeline.parse import parse_event, parse_message  # noqa: E402
from pipeline.parse.awslogs import decode_data, to_payload  # noqa: E402
from pipeline.parse.plausible import LIMITS  # noqa: E402
from pipeline.sources.simulate import FleetConfig, simulate

NUMERIC = tuple(LIMITS)
RID = "6b2a7c1e-3d4f-4a5b-8c6d-7e8f9a0b1c2d"
BAD_NUMBERS = ("nan", "NaN", "inf", "-inf", "-1e999", "1e999", "-0", "-12.5", "9" * 400, "0x1F", "1.2.3", "",
               "١٢", "1_000", "+5", ".", "1e-400", "18446744073709551616", "-9223372036854775809")
WEIRD = ("\x00", "\t", "\r", "\n", "\u2028", "\ufeff", "\ud7ff", "é", "注文", "😀", "\\", '"', "{", "}", "[", "]",
         ":", "RequestId:", "Duration:", "ms", "MB", "XRAY TraceId:", "Status:", "Error Type:")
JSON_WRONG = (None, True, 0, -1, 1.5e308, "", "x" * 50, [], {}, [1, [2, [3]]], {"a": {"b": None}}, 2 ** 63)


def _uuid(rnd: random.Random) -> str:
    return "%08x-%04x-4%03x-8%03x-%012x" % (rnd.getrandbits(32), rnd.getrandbits(16), rnd.getrandbits(12),
                                             rnd.getrandbits(12), rnd.getrandbits(48))


def _num(rnd: random.Random, good: float) -> str:
    return rnd.choice(BAD_NUMBERS) if rnd.random() < 0.3 else f"{good:.2f}"


def report(rnd: random.Random) -> str:
    fields = [f"Duration: {_num(rnd, rnd.uniform(0, 3000))} ms", f"Billed Duration: {_num(rnd, rnd.randint(1, 3000))} ms",
              f"Memory Size: {_num(rnd, rnd.choice((128, 512, 10240)))} MB",
              f"Max Memory Used: {_num(rnd, rnd.randint(1, 512))} MB"]
    if rnd.random() < 0.3:
        fields.append(f"Init Duration: {_num(rnd, rnd.uniform(0, 900))} ms")
    if rnd.random() < 0.1:
        fields += [f"Restore Duration: {_num(rnd, 500)} ms", f"Billed Restore Duration: {_num(rnd, 300)} ms"]
    if rnd.random() < 0.2:
        fields += [f"Status: {rnd.choice(('timeout', 'error', ''))}", f"Error Type: {rnd.choice(('Runtime.OutOfMemory', 'x'))}"]
    if rnd.random() < 0.3:
        rnd.shuffle(fields)
    sep = rnd.choice(("\t", " ", "  ", "\t\t"))
    line = sep.join([f"REPORT RequestId: {rnd.choice((RID, _uuid(rnd), '', 'x' * 300))}", *fields]) + sep + "\n"
    if rnd.random() < 0.2:
        line += f"XRAY TraceId: 1-{rnd.getrandbits(32):08x}-{rnd.getrandbits(96):024x}\tSegmentId: x\tSampled: maybe\n"
    return line


def platform_json(rnd: random.Random) -> str:
    kind = rnd.choice(("platform.report", "platform.start", "platform.initStart", "platform.initReport",
                       "platform.runtimeDone", "platform.restoreReport", "platform.logsDropped", "platform.nope"))
    metrics = {k: rnd.choice(JSON_WRONG + (rnd.uniform(-1e6, 1e6), rnd.randint(-10**6, 10**6)))
               for k in rnd.sample(("durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB",
                                    "initDurationMs", "restoreDurationMs", "producedBytes"), rnd.randint(0, 5))}
    record = {"requestId": rnd.choice((RID, None, 5, [])), "metrics": rnd.choice((metrics, metrics, None, "m")),
              "status": rnd.choice(("success", "error", None, 3)), "tracing": rnd.choice((
                  {"value": f"Root=1-{rnd.getrandbits(32):08x}-{rnd.getrandbits(96):024x};Sampled=1"}, {"value": 7}, None))}
    return orjson.dumps({"time": "2024-05-01T10:00:00.000Z", "type": kind,
                         "record": rnd.choice((record, record, record, None, [], "r"))}).decode()


def app_json(rnd: random.Random) -> str:
    keys = ("level", "message", "timestamp", "requestId", "correlation_id", "xray_trace_id", "errorType",
            "errorMessage", "stackTrace", "function_request_id", "cold_start")
    obj = {k: rnd.choice(JSON_WRONG + ("INFO", "ERROR", RID, "Task timed out")) for k in rnd.sample(keys, rnd.randint(1, 8))}
    text = orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS).decode() \
        if rnd.random() < 0.95 else '{"a":' * 10_000 + "1" + "}" * 10_000
    return text


def runtime_line(rnd: random.Random) -> str:
    return rnd.choice((
        f"[{rnd.choice(('INFO', 'ERROR', 'WARN', 'X'))}]\t2024-05-01T10:00:00.123Z\t{RID}\tsomething {rnd.random()}\n",
        f"2024-05-01T10:00:00.123Z\t{RID}\t{rnd.choice(('INFO', 'ERROR'))}\tInvoke Error \t{{\"errorType\":\"E\"}}\n",
        f"2024-05-01T10:00:03.004Z {RID} Task timed out after {_num(rnd, 3)} seconds\n",
        f"RequestId: {RID} Error: Runtime exited with error: signal: killed\nRuntime.ExitError\n",
        f"START RequestId: {RID} Version: $LATEST\n", f"END RequestId: {RID}\n",
        "INIT_START Runtime Version: python:3.12.v38\tRuntime Version ARN: arn:aws:lambda:::runtime:x\n",
        f"INIT_REPORT Init Duration: {_num(rnd, 180000)} ms\tPhase: invoke\tStatus: timeout\n",
        f"RESTORE_REPORT Restore Duration: {_num(rnd, 571)} ms\n",
        "EXTENSION\tName: x\tState: Ready\tEvents: [INVOKE,SHUTDOWN]\n",
        "[ERROR] MemoryError\nTraceback (most recent call last):\n", "FATAL ERROR: JavaScript heap out of memory",
        "TooManyRequestsException: Rate Exceeded.",
    ))


def mutate(rnd: random.Random, line: str) -> str:
    for _ in range(rnd.randint(0, 3)):
        op = rnd.random()
        if not line:
            line = rnd.choice(WEIRD)
        elif op < 0.25:
            i = rnd.randrange(len(line))
            line = line[:i] + rnd.choice(WEIRD) + line[i:]
        elif op < 0.45:
            line = line[: rnd.randrange(len(line) + 1)]
        elif op < 0.6:
            i = rnd.randrange(len(line))
            line = line[:i] + chr(rnd.randrange(1, 0xD7FF)) + line[i + 1:]
        elif op < 0.7:
            line = line.replace("\t", " ")
        elif op < 0.8:
            i, j = sorted(rnd.randrange(len(line) + 1) for _ in range(2))
            line = line[:i] + line[j:] + line[i:j]
    return line


GENERATORS = (report, report, platform_json, app_json, runtime_line, runtime_line)


def generate(rnd: random.Random) -> str:
    if rnd.random() < 0.02:
        return "".join(chr(rnd.randrange(1, 0x10FFFF)) for _ in range(rnd.randint(0, 60))
                       ).encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    line = rnd.choice(GENERATORS)(rnd)
    return mutate(rnd, line) if rnd.random() < 0.6 else line


def check(line: str, ts: int) -> None:
    """The properties every line must keep; raises AssertionError (or whatever broke) otherwise."""
    p = parse_message(line)
    assert isinstance(p.kind, str) and isinstance(p.signals, tuple)
    rec = p.platform
    if rec is not None:
        for name in NUMERIC:
            v = getattr(rec, name)
            assert v is None or (math.isfinite(v) and 0 <= v <= LIMITS[name]), (name, v)
    ev = parse_event(LogEvent(id="1", timestamp=ts, message=line, log_group="/aws/lambda/f", log_stream="s"))
    orjson.dumps(ev.to_doc())


def check_payload(lines: list[str], rnd: random.Random) -> None:
    """A subscription payload of these lines decodes back to the same events."""
    events = [{"id": str(rnd.getrandbits(60)), "timestamp": rnd.randint(0, 2 ** 53), "message": m} for m in lines]
    obj = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/f",
           "logStream": "2024/05/01/[$LATEST]abc", "logEvents": events}
    data = base64.b64encode(gzip.compress(orjson.dumps(obj), 1)).decode()
    got = to_payload(decode_data(data)).events
    assert [(e.id, e.timestamp, e.message) for e in got] == [(e["id"], e["timestamp"], e["message"]) for e in events]


def fuzz(n: int, seed: int = 1, log=print) -> dict:
    rnd = random.Random(seed)
    failures: list[tuple[str, str]] = []
    slowest: list[tuple[float, str]] = []
    generated = checked = 0
    gen_s = check_s = 0.0
    batch: list[str] = []
    while generated < n:
        t0 = time.perf_counter()
        line = generate(rnd)
        ts = rnd.choice((rnd.getrandbits(63) * rnd.choice((1, -1)), 1714557600000 + rnd.randint(0, 10**9), 0))
        t1 = time.perf_counter()
        try:
            check(line, ts)
        except Exception:  # a failure of the property: kept, reported, the run goes on
            failures.append((line[:300], traceback.format_exc(limit=4)))
        t2 = time.perf_counter()
        gen_s += t1 - t0
        check_s += t2 - t1
        if t2 - t1 > 0.005:
            slowest.append((t2 - t1, line))
            slowest = sorted(slowest, reverse=True)[:5]
        generated += 1
        if generated % 100 == 0:
            batch.append(line)
            if len(batch) == 20:
                try:
                    check_payload(batch, rnd)
                except Exception:
                    failures.append((repr(batch)[:300], traceback.format_exc(limit=4)))
                checked += len(batch)
                batch = []
    # Baseline: the parser over the same number of well-formed lines of the simulated fleet.

    payloads, _ = simulate(FleetConfig(seed=seed, functions=6, minutes=4))
    real = [e["message"] for p in payloads if p["messageType"] == "DATA_MESSAGE" for e in p["logEvents"]]
    lines = (real * (n // max(1, len(real)) + 1))[:n]
    t0 = time.perf_counter()
    for line in lines:
        check(line, 1714557600000)
    base_s = time.perf_counter() - t0
    out = {"lines": n, "failures": len(failures), "fuzz_lines_per_s": n / check_s, "real_lines_per_s": n / base_s,
           "cost_ratio": check_s / base_s, "generate_lines_per_s": n / gen_s, "payload_round_trips": checked,
           "slowest_ms": [round(s * 1000, 2) for s, _ in slowest]}
    log(f"fuzz: {n:,} generated lines (seed {seed}), {checked:,} of them also through a subscription payload")
    log(f"  parse + render + checks: {out['fuzz_lines_per_s']:,.0f} lines/s hostile, "
        f"{out['real_lines_per_s']:,.0f} lines/s well-formed (baseline): hostile costs {out['cost_ratio']:.2f}x")
    log(f"  generator: {out['generate_lines_per_s']:,.0f} lines/s (not counted above)")
    for s, line in slowest:
        log(f"  slow line: {s * 1000:.1f} ms: {line[:100]!r}…")
    log(f"  failures: {len(failures)}")
    for line, tb in failures[:10]:
        log(f"  FAILED on {line!r}\n{tb}")
    return out


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 1_000_000
    seed = int(argv[1]) if len(argv) > 1 else 1
    return 1 if fuzz(n, seed)["failures"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
