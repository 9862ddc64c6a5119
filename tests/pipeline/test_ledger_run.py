"""The ledger of real runs: it balances on FnApiRunner and on DaskRunner (which reports no metrics),
counts re-deliveries across inputs as duplicates, and turns a lost document into an error exit."""

from __future__ import annotations

import glob
import os
import shutil

import orjson
import pytest

import pipeline.run as run_module
from pipeline.cli import main as cli_main
from tests.pipeline.helpers import INDEX_LOGS, run_fleet


@pytest.fixture(scope="module")
def ledger_run(sim_fleet, tmp_path_factory):
    """The fleet, plus a second input holding a copy of one payload file, plus undecodable lines."""
    fleet_dir, truth = sim_fleet
    copy_dir = tmp_path_factory.mktemp("copy")
    shutil.copy(fleet_dir / "payloads-00000.ndjson", copy_dir / "again.ndjson")
    bad = tmp_path_factory.mktemp("bad") / "bad.ndjson"
    bad.write_bytes(b"not a payload\n[1, 2]\n")
    out = tmp_path_factory.mktemp("out")
    run_fleet(fleet_dir, truth, out, extra_inputs=[str(copy_dir / "*.ndjson"), str(bad)])
    copied = sum(1 for line in (copy_dir / "again.ndjson").read_bytes().splitlines() if line.strip())
    return orjson.loads((out / "ledger" / "ledger.json").read_bytes()), truth, copied


def test_the_ledger_balances_and_names_every_term(ledger_run):
    led, truth, _ = ledger_run
    assert led["balanced"] and led["problems"] == []
    t = led["totals"]
    assert t["events_indexed"] == truth["events"]
    assert t["events_read"] == t["events_indexed"] + t["duplicates_removed"] + t["events_filtered"] + t["events_dead_lettered"]
    assert t["inputs_dead_lettered"] == 2 and t["control_messages"] == truth["control_messages"]
    assert led["checks"]["beam_metrics"]["events_read"] == {"ledger": t["events_read"], "beam": t["events_read"]}


def test_an_input_that_repeats_another_shares_its_row_and_its_duplicates(ledger_run):
    led, truth, copied = ledger_run
    rows = {r["source"].split("/")[-1] if " + " not in r["source"] else "merged": r for r in led["rows"]}
    assert set(rows) == {"merged", "bad.ndjson"}
    merged = rows["merged"]
    assert "payloads-*.ndjson" in merged["source"] and "*.ndjson" in merged["source"]
    assert merged["difference"] == 0 and merged["files"] == truth["config"]["files"] + 1
    assert merged["duplicates_removed"] > 0 and merged["events_read"] - merged["duplicates_removed"] == truth["events"]
    assert rows["bad.ndjson"]["events_read"] == 0 and rows["bad.ndjson"]["inputs_dead_lettered"] == 2


def test_dask_runner_ledger_balances_without_metrics(sim_fleet, tmp_path):
    distributed = pytest.importorskip("distributed")
    fleet_dir, truth = sim_fleet
    cluster = distributed.LocalCluster(n_workers=1, processes=True, threads_per_worker=1, dashboard_address=None,
                                       silence_logs=40)
    try:
        out = run_fleet(fleet_dir, truth, tmp_path / "dask", runner="dask", dask_address=cluster.scheduler_address)
    finally:
        cluster.close()
    led = orjson.loads((out / "ledger" / "ledger.json").read_bytes())
    assert led["balanced"] and led["totals"]["events_indexed"] == truth["events"]
    assert led["checks"]["beam_metrics"] == "not reported by this runner"


def test_a_writer_that_loses_documents_fails_the_run(sim_fleet, tmp_path, monkeypatch, capsys):
    """Fault: one shard of the logs index vanishes before the join (a worker's disk, a bug)."""
    fleet_dir, _ = sim_fleet
    real_join = run_module.join_index_shards

    def lossy_join(out_dir, indices):
        shards = sorted(glob.glob(os.path.join(out_dir, "indices", ".shards", f"{INDEX_LOGS}-*.ndjson")))
        os.remove(shards[0])
        real_join(out_dir, indices)

    monkeypatch.setattr(run_module, "join_index_shards", lossy_join)
    code = cli_main(["run", "--input", str(fleet_dir / "payloads-*.ndjson"), "--out", str(tmp_path / "o"),
                     "--quiet", "--no-report"])
    err = capsys.readouterr().err
    assert code == 1
    assert "ledger mismatch: logs documents:" in err and "produced" in err and "written" in err
