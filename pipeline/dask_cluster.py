"""The dask.distributed cluster behind ``--runner dask``: a local one sized to the machine when
no ``--dask-address`` is given, or a probe of the given scheduler before Beam starts (an
unreachable scheduler is one line at once, not Beam's traceback after a long wait)."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Iterator

from pipeline.errors import ServiceError, UsageError
from pipeline.quiet_logs import OFF, quiet_logging

PROBE_TIMEOUT_S = 5.0


@dataclass
class LocalCluster:
    address: str
    workers: int
    dashboard: str


def _distributed(verbose: bool):
    try:
        import distributed  # noqa: PLC0415 -- an optional extra (coldtrace[dask]); +630-840 ms of import, only for --runner dask
    except ImportError:  # an optional extra
        raise UsageError("--runner dask needs dask.distributed: pip install 'coldtrace[dask]'") from None
    if not verbose:  # its import configures its own loggers (INFO to stderr): silence them again
        quiet_logging(verbose)
    return distributed


def dask_setup(worker) -> None:
    """distributed's preload hook, run in each worker process of the local cluster: the same
    quiet logging as the command (Beam's import warnings would otherwise reach stderr)."""
    quiet_logging(False)


@contextlib.contextmanager
def local_cluster(workers: int | None = None, verbose: bool = False) -> Iterator[LocalCluster]:
    """A LocalCluster of one single-threaded worker process per core, on 127.0.0.1, closed on exit."""
    distributed = _distributed(verbose)
    n = workers or os.cpu_count() or 1
    cluster = distributed.LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # any free port: never clash with another cluster
        silence_logs=logging.INFO if verbose else OFF,
        preload=[] if verbose else [__name__])  # dask_setup below, in every worker
    try:
        yield LocalCluster(cluster.scheduler_address, n, cluster.dashboard_link)
    finally:
        cluster.close()


def probe_scheduler(address: str, timeout: float = PROBE_TIMEOUT_S, verbose: bool = False) -> None:
    """Connect to the scheduler once; ServiceError (one line) when it does not answer."""
    distributed = _distributed(verbose)
    try:
        client = distributed.Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ServiceError(f"no dask scheduler answers at {address} (--dask-address) within "
                           f"{timeout:g} s: {type(exc).__name__}") from None
    client.close()
