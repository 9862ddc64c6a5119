"""Scale-out: the batch pipeline on Beam's DaskRunner over a dask.distributed cluster of two
worker processes writes exactly what FnApiRunner writes on the same input."""

import pytest

from pipeline.model import INDEX_TRACES
from tests.pipeline.helpers import INDEX_DEADLETTER, INDEX_INVOCATIONS, INDEX_LOGS, run_fleet

distributed = pytest.importorskip("distributed")


def _sorted_lines(path):
    return sorted(path.read_bytes().splitlines())


def test_dask_output_identical_to_fnapi(sim_fleet, tmp_path):
    fleet_dir, truth = sim_fleet
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None, silence_logs=40)
    try:
        dask_out = run_fleet(fleet_dir, truth, tmp_path / "dask", runner="dask",
                             dask_address=cluster.scheduler_address)
    finally:
        cluster.close()
    fn_out = run_fleet(fleet_dir, truth, tmp_path / "fnapi")
    for index in (INDEX_LOGS, INDEX_INVOCATIONS, INDEX_DEADLETTER, INDEX_TRACES):
        a = _sorted_lines(fn_out / "indices" / f"{index}.ndjson")
        b = _sorted_lines(dask_out / "indices" / f"{index}.ndjson")
        assert a == b, index
    assert len(_sorted_lines(fn_out / "indices" / f"{INDEX_INVOCATIONS}.ndjson")) == 2 * len(truth["invocations"])


def test_two_fnapi_worker_processes_write_what_one_writes(sim_fleet, tmp_path):
    """Multi-processing FnApiRunner (what --workers auto picks for large inputs): its shuffle
    is compressed and crosses processes; the documents must not change."""
    from pipeline.model import INDEX_METRICS

    fleet_dir, truth = sim_fleet
    two = run_fleet(fleet_dir, truth, tmp_path / "two", direct_num_workers=2)
    one = run_fleet(fleet_dir, truth, tmp_path / "one")
    for index in (INDEX_LOGS, INDEX_INVOCATIONS, INDEX_DEADLETTER, INDEX_TRACES, INDEX_METRICS):
        assert _sorted_lines(one / "indices" / f"{index}.ndjson") == _sorted_lines(two / "indices" / f"{index}.ndjson"), index
