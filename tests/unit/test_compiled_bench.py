"""bench/compiled.py's verdict rests on its output comparison: it must see a changed byte in any
index, ledger or aggregate file and in summary.json, and ignore only the run's clock figures.
(The bench itself needs mypy and a C compiler; docs/compiled.md has its figures.)"""

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "compiled.py"


def _bench():
    spec = importlib.util.spec_from_file_location("coldtrace_bench_compiled", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _out(root: Path, *, invocations: bytes, elapsed: float, invocations_total: int) -> Path:
    for sub, name, data in (("indices", "coldtrace-invocations.ndjson", invocations),
                            ("ledger", "ledger.json", b'{"rows": []}'),
                            ("aggregates", "report.json", b'{"n": 1}')):
        (root / sub).mkdir(parents=True, exist_ok=True)
        (root / sub / name).write_bytes(data)
    summary = {"totals": {"invocations": invocations_total},
               "run": {"elapsed_s": elapsed, "events_read": 10, "events_per_s": 10 / elapsed}}
    (root / "summary.json").write_text(json.dumps(summary))
    return root


def test_only_the_run_clock_may_differ(tmp_path):
    bench = _bench()
    a = _out(tmp_path / "a", invocations=b'{"x":1}\n', elapsed=1.5, invocations_total=3)
    same = _out(tmp_path / "b", invocations=b'{"x":1}\n', elapsed=2.5, invocations_total=3)
    assert bench.compare_outputs(str(a), str(same)) == []

    other = _out(tmp_path / "c", invocations=b'{"x":1.0}\n', elapsed=1.5, invocations_total=4)
    assert bench.compare_outputs(str(a), str(other)) == ["indices/coldtrace-invocations.ndjson", "summary.json"]

    (other / "indices" / "coldtrace-invocations.ndjson").unlink()
    (other / "indices" / "coldtrace-extra.ndjson").write_bytes(b"")
    assert bench.compare_outputs(str(a), str(other))[:2] == ["indices/coldtrace-extra.ndjson",
                                                             "indices/coldtrace-invocations.ndjson"]


def test_compiled_list_names_existing_pure_modules():
    bench = _bench()
    root = BENCH.parents[1]
    assert bench.MODULES and all((root / m).is_file() and m.endswith(".py") for m in bench.MODULES)
