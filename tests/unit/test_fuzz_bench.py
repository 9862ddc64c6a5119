"""bench/fuzz.py's generator and properties on a small run (the bench itself runs 10^6 lines)."""

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fuzz.py"


def test_twenty_thousand_fuzzed_lines_keep_every_property():
    spec = importlib.util.spec_from_file_location("coldtrace_bench_fuzz", BENCH)
    fuzz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz)
    lines: list[str] = []
    result = fuzz.fuzz(20_000, seed=7, log=lines.append)
    assert result["failures"] == 0, "\n".join(lines)
    assert result["payload_round_trips"] == 200 and result["lines"] == 20_000
