"""REPORT-line parse throughput against bare-regex ceilings, measured in the same run.

Two baselines, both a plain loop of ``re.match`` over the same lines with nothing done with the
match: (1) a minimal regex that reads only the five always-present fields, in fixed order — the
cheapest thing that could touch a REPORT line; (2) a regex that captures every field the parser
returns (optional Init/Restore/Status/Error Type/XRAY parts too), i.e. the same extraction with
no conversion and no record. The parser also converts numbers, builds a typed record, and falls
back to by-name parsing for reordered or unknown fields. Run: ``python bench/parse.py [N]``.

A last figure runs ``parse_message`` over the real-lines corpus (tests/data/real-lines.jsonl:
every runtime's prefixes, JSON records, extensions, errors), repeated, beside baseline (1).
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
import time

# bench/pipeline.py is named like the package: keep bench/ off the import path.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

from pipeline.parse import parse_message, parse_report
from pipeline.parse.platform_text import _REPORT_CANONICAL as FULL

BARE = re.compile(
    r"REPORT RequestId: (\S+)\s+Duration: ([\d.]+) ms\s+Billed Duration: (\d+) ms\s+"
    r"Memory Size: (\d+) MB\s+Max Memory Used: (\d+) MB")


def report_lines(n: int, seed: int = 1) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        rid = "%08x-%04x-4%03x-8%03x-%012x" % (rnd.getrandbits(32), rnd.getrandbits(16), rnd.getrandbits(12),
                                                 rnd.getrandbits(12), rnd.getrandbits(48))
        dur = rnd.uniform(1, 3000)
        line = (f"REPORT RequestId: {rid}\tDuration: {dur:.2f} ms\tBilled Duration: {int(dur) + 1} ms\t"
                f"Memory Size: 512 MB\tMax Memory Used: {rnd.randint(60, 500)} MB\t")
        if i % 10 == 0:
            line += f"Init Duration: {rnd.uniform(100, 900):.2f} ms\t"
        if i % 4 == 0:
            line += f"\nXRAY TraceId: 1-6738a2f0-{rnd.getrandbits(96):024x}\tSegmentId: {rnd.getrandbits(64):016x}\tSampled: true"
        out.append(line + "\n")
    return out


def best_rate(fn, lines: list[str], repeats: int = 5) -> float:
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(lines)
        rates.append(len(lines) / (time.perf_counter() - t))
    return max(rates)


def bare(lines):
    m = BARE.match
    for line in lines:
        m(line)


def bare_full(lines):
    m = FULL.match
    for line in lines:
        m(line)


def parser_report(lines):
    for line in lines:
        parse_report(line)


def parser_message(lines):
    for line in lines:
        parse_message(line)


CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "real-lines.jsonl")


def corpus_lines(n: int) -> list[str]:
    """The real-lines corpus repeated to about n lines (empty when the corpus is absent)."""
    if not os.path.exists(CORPUS):
        return []
    with open(CORPUS, encoding="utf-8") as fh:
        real = [json.loads(raw)["line"] for raw in fh if raw.strip()]
    return (real * (n // len(real) + 1))[:n]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    lines = report_lines(n)
    assert all(BARE.match(line) for line in lines[:100])
    base = best_rate(bare, lines)
    full = best_rate(bare_full, lines)
    rep = best_rate(parser_report, lines)
    msg = best_rate(parser_message, lines)
    print(f"REPORT lines: {n:,}")
    print(f"(1) bare re.match, 5 fixed fields:     {base:12,.0f} lines/s")
    print(f"(2) bare re.match, every field:         {full:12,.0f} lines/s   {full / base:6.1%} of (1)")
    print(f"parse_report (typed record):            {rep:12,.0f} lines/s   {rep / full:6.1%} of (2)   {rep / base:6.1%} of (1)")
    print(f"parse_message (full dispatch):          {msg:12,.0f} lines/s   {msg / full:6.1%} of (2)   {msg / base:6.1%} of (1)")
    for name, ceiling in (("(2) same fields", full), ("(1) minimal", base)):
        print(f"target parser >= 40 % of ceiling {name}: {'met' if rep / ceiling >= 0.4 else 'NOT met'}")
    real = corpus_lines(n // 4)
    if real:
        mixed = best_rate(parser_message, real)
        print(f"parse_message, real-lines corpus mix:   {mixed:12,.0f} lines/s   {mixed / base:6.1%} of (1)")


if __name__ == "__main__":
    main()
