"""Real Lambda log lines, copied from public sources with their provenance, through the parser.

Each line of tests/data/real-lines.jsonl carries what a person reads off the line (``expect``):
the test fails on any field the parser reads differently, naming the line, its source and the
field. The corpus is the oracle here, not the simulator.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.parse import parse_message

CORPUS = Path(__file__).resolve().parents[1] / "data" / "real-lines.jsonl"
LINES = [json.loads(raw) for raw in CORPUS.read_text(encoding="utf-8").splitlines() if raw.strip()]
# Fields of the parsed line itself; every other expected field is read on its platform record.
LINE_FIELDS = frozenset({"kind", "level", "request_id", "error_type", "xray_trace_id", "correlation_id"})


def _actual(parsed, field: str):
    if field in LINE_FIELDS:
        return getattr(parsed, field)
    rec = parsed.platform
    value = None if rec is None else getattr(rec, field)
    return list(value) if isinstance(value, tuple) else value


def test_corpus_is_large_and_sourced():
    assert len(LINES) >= 150
    for rec in LINES:
        assert rec.get("source"), rec
        assert rec.get("shape") and isinstance(rec.get("expect"), dict) and rec["expect"], rec
    assert len({rec["line"] for rec in LINES}) == len(LINES), "a line is in the corpus twice"


@pytest.mark.parametrize("rec", LINES, ids=[f"{i}-{r['shape']}" for i, r in enumerate(LINES)])
def test_real_line(rec):
    parsed = parse_message(rec["line"])
    wrong = []
    for field, want in rec["expect"].items():
        got = _actual(parsed, field)
        if isinstance(want, float) and isinstance(got, (int, float)):
            ok = abs(got - want) < 1e-9
        else:
            ok = got == want
        if not ok:
            wrong.append(f"  {field}: expected {want!r}, parsed {got!r}")
    assert not wrong, f"\nline:   {rec['line']!r}\nsource: {rec['source']}\n" + "\n".join(wrong)
