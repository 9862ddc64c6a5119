"""Live progress reaches the terminal from a side channel on every runner: the file readers'
marks under <out>/.progress/ add up to every event read, on FnApiRunner and on a dask cluster."""

from __future__ import annotations

import pytest

from pipeline.model import DeadLetter
from pipeline.progress_channel import ProgressTail, progress_dir
from pipeline.sources.formats import read_stream
from tests.pipeline.helpers import run_fleet


def _events_in_files(fleet_dir) -> tuple[int, int]:
    n, newest = 0, 0
    for path in sorted(fleet_dir.glob("payloads-*.ndjson")):
        with open(path, "rb") as f:
            for item in read_stream(f, str(path)):
                if not isinstance(item, DeadLetter):
                    n += len(item)
                    newest = max([newest] + [ev.timestamp for ev in item])
    return n, newest


@pytest.mark.parametrize("runner", ["fnapi", "dask"])
def test_marks_add_up_to_every_event_read(sim_fleet, tmp_path, runner):
    fleet_dir, truth = sim_fleet
    kw = {}
    cluster = None
    if runner == "dask":
        distributed = pytest.importorskip("distributed")
        cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                           dashboard_address=None, silence_logs=40)
        kw = {"runner": "dask", "dask_address": cluster.scheduler_address}
    try:
        out = run_fleet(fleet_dir, truth, tmp_path / runner, **kw)
    finally:
        if cluster is not None:
            cluster.close()
    events, newest = ProgressTail(progress_dir(str(out.resolve()))).poll()
    assert (events, newest) == _events_in_files(fleet_dir)
    assert events >= truth["events"] > 0
