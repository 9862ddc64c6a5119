"""Scale-out: the batch pipeline on Beam's DaskRunner over a dask.distributed cluster of two
worker processes writes exactly what FnApiRunner writes on the same input."""

import base64
import gzip

import orjson
import pytest

from pipeline.model import INDEX_METRICS, INDEX_TRACES
from pipeline.run import RunConfig, run
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
    fleet_dir, truth = sim_fleet
    two = run_fleet(fleet_dir, truth, tmp_path / "two", direct_num_workers=2)
    one = run_fleet(fleet_dir, truth, tmp_path / "one")
    for index in (INDEX_LOGS, INDEX_INVOCATIONS, INDEX_DEADLETTER, INDEX_TRACES, INDEX_METRICS):
        assert _sorted_lines(one / "indices" / f"{index}.ndjson") == _sorted_lines(two / "indices" / f"{index}.ndjson"), index


def test_a_redacted_secret_never_crosses_the_shuffle_between_workers(tmp_path):
    """Between worker processes a payload may travel as CloudWatch compressed it, but not one
    whose events were redacted: the secret must not reach any index file."""
    secret = "AKIAIOSFODNN7EXAMPLE"
    lines = []
    for n, messages in enumerate([["START RequestId: r1 Version: $LATEST", f"using key {secret}", "END RequestId: r1"],
                                  ["START RequestId: r2 Version: $LATEST", "nothing to hide", "END RequestId: r2"]]):
        obj = {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/orders",
               "logStream": f"2024/05/01/[$LATEST]{n:032x}", "subscriptionFilters": ["f"],
               "logEvents": [{"id": f"{n}{i:05d}", "timestamp": 1714557600000 + i, "message": m}
                             for i, m in enumerate(messages)]}
        lines.append(base64.b64encode(gzip.compress(orjson.dumps(obj))))
    src = tmp_path / "payloads.ndjson"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out"
    run(RunConfig(inputs=[str(src)], out_dir=str(out), direct_num_workers=2))
    logs = (out / "indices" / f"{INDEX_LOGS}.ndjson").read_bytes()
    assert b"[REDACTED:aws_access_key]" in logs and b"nothing to hide" in logs
    assert logs.count(b'"create"') == 6
    for path in out.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
