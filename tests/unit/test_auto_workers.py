"""--workers auto: one worker for small inputs, one per core once the input repays starting them."""

import argparse

import pytest

from pipeline.commands.run import _workers
from pipeline.run import AUTO_WORKERS_MIN_BYTES, auto_workers


def test_small_inputs_run_on_one_worker_and_large_ones_on_every_core(tmp_path):
    small = tmp_path / "small.ndjson"
    small.write_bytes(b"x" * 1000)
    assert auto_workers([str(small)], cores=4) == 1
    big = tmp_path / "big.ndjson"
    with open(big, "wb") as f:
        f.truncate(AUTO_WORKERS_MIN_BYTES)  # sparse: sized, not written
    assert auto_workers([str(tmp_path / "*.ndjson")], cores=4) == 4
    assert auto_workers([str(big)], cores=1) == 1
    assert auto_workers(["s3://bucket/prefix*"], cores=4) == 1


def test_workers_option_takes_a_positive_number_or_auto():
    assert _workers("auto") == "auto"
    assert _workers("3") == 3
    for bad in ("0", "-1", "many"):
        with pytest.raises(argparse.ArgumentTypeError):
            _workers(bad)
