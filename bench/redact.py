"""Redaction cost per log line: the patterns coldtrace had (baseline) against every built-in
pattern (private keys, AWS secret keys, JWTs, GitHub/Slack/Stripe tokens and connection-string
passwords added), on the same lines in the same run.

    .venv/bin/python bench/redact.py [--lines 200000] [--secret-every 200] [--runs 5]

Lines are the simulator's Lambda fleet (START/END/REPORT, JSON and text application lines,
stack traces), with one line in ``--secret-every`` carrying a secret or a look-alike of one,
in subscription-sized batches (``redact_events``, the path the forwarder and the pipeline take;
the hint fast path rules most batches out with one substring search each). Also the
line-by-line path (``redact_text``). Printed: µs per line (best of runs, the two sets measured
alternately) and the ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# bench/pipeline.py is named like the package: keep bench/ off the import path.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

from pipeline.model import LogEvent
from pipeline.parse.redact import BUILTIN_NAMES, CLASSIC_NAMES, Redactor
from pipeline.sources.simulate import FleetConfig, simulate

SECRETISH = [
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "deploying commit 3f786850e387550fdab836ed7e6dc881de23001b to prod",
    "error: connect ECONNREFUSED postgres://app:S3cr3t-Pa55@db.internal:5432/orders",
    "jdbc:mysql://db.internal:3306/app?user=app&password=myS3cret&useSSL=true",
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
    "session cookie=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl; Path=/",
    "GITHUB_TOKEN=ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "slack post failed token=xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
    "user jane.doe@example.com paid with 4111 1111 1111 1111",
    "loaded -----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEAu1SU1LfVLPHC\\n-----END RSA PRIVATE KEY-----",
]


def batches(lines: int, secret_every: int) -> list[list[str]]:
    """Subscription-sized batches of the fleet's messages, secrets sprinkled in."""
    payloads, _ = simulate(FleetConfig(seed=3, functions=12, minutes=30, invocations_per_minute=120))
    out, n = [], 0
    while n < lines:
        for p in payloads:
            if p["messageType"] != "DATA_MESSAGE":
                continue
            batch = []
            for e in p["logEvents"]:
                n += 1
                batch.append(SECRETISH[n // secret_every % len(SECRETISH)] if n % secret_every == 0 else e["message"])
            out.append(batch)
            if n >= lines:
                return out
    return out


def seconds(redactor: Redactor, texts: list[list[str]], batched: bool) -> float:
    events = [[LogEvent(id="1", timestamp=0, message=m, log_group="g", log_stream="s") for m in b] for b in texts]
    started = time.perf_counter()
    if batched:
        for b in events:
            redactor.redact_events(b)
    else:
        for b in texts:
            for m in b:
                redactor.redact_text(m)
    return time.perf_counter() - started


def compare(a: Redactor, b: Redactor, texts: list[list[str]], runs: int, batched: bool) -> tuple[float, float]:
    """Best µs/line of each, the two measured alternately so machine-speed drift hits both alike."""
    total = sum(len(t) for t in texts)
    best_a = best_b = float("inf")
    for _ in range(runs):
        best_a = min(best_a, seconds(a, texts, batched))
        best_b = min(best_b, seconds(b, texts, batched))
    return best_a / total * 1e6, best_b / total * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--secret-every", type=int, default=200)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    texts = batches(args.lines, args.secret_every)
    n = sum(len(b) for b in texts)
    print(f"{n:,} lines in {len(texts):,} batches (mean {n / len(texts):.0f} lines, "
          f"{sum(len(m) for b in texts for m in b) / n:.0f} chars/line), one in {args.secret_every} secret-ish")
    classic, full = Redactor(CLASSIC_NAMES), Redactor(BUILTIN_NAMES)
    print(f"{'path':<28}{'baseline: ' + str(len(CLASSIC_NAMES)) + ' patterns':>24}"
          f"{'all ' + str(len(BUILTIN_NAMES)) + ' patterns':>18}{'ratio':>8}")
    for label, batched in (("redact_events (batches)", True), ("redact_text (line by line)", False)):
        base, new = compare(classic, full, texts, args.runs, batched)
        print(f"{label:<28}{base:>19.3f} µs/l{new:>13.3f} µs/l{new / base:>7.2f}×")


if __name__ == "__main__":
    main()
