"""The batch run fixes glibc's malloc thresholds for itself and its worker processes, but never
overrides a value the user chose (pipeline.run.bound_malloc)."""

import sys

import pytest

from pipeline import run as batch


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_sets_both_thresholds_for_the_workers(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    batch.bound_malloc()
    assert batch.os.environ["MALLOC_MMAP_THRESHOLD_"] == str(batch.MALLOC_THRESHOLD)
    assert batch.os.environ["MALLOC_TRIM_THRESHOLD_"] == str(batch.MALLOC_THRESHOLD)


def test_a_users_own_setting_wins(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    batch.bound_malloc()
    assert batch.os.environ["MALLOC_MMAP_THRESHOLD_"] == "65536"


def test_nothing_changes_off_linux(monkeypatch):
    monkeypatch.setattr(batch.sys, "platform", "darwin")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    batch.bound_malloc()
    assert "MALLOC_MMAP_THRESHOLD_" not in batch.os.environ
