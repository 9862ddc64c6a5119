"""The batch mode: files → the graph (``pipeline.graph``) in the batch shell → index files.

The runner is always chosen explicitly (Beam's default first tries to download Prism):
``fnapi`` (in-process, the default), ``direct``, ``dask`` (a dask.distributed cluster) or any
fully qualified runner class name, which is passed through to Beam.
"""

from __future__ import annotations

import ctypes
import glob
import logging
import os
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING


class _QuietBeamImport(logging.Filter):
    """Beam warns at import that optional GCP clients are missing; coldtrace does not use them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


logging.getLogger().addFilter(_QuietBeamImport())

import apache_beam as beam  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.transforms.environments import SubprocessSDKEnvironment

from pipeline import ledger
from pipeline.beam_worker import HARMLESS
from pipeline.fnapi_inputs import stream_stage_inputs
from pipeline.graph import BatchShell, Sinks, SourceOut, assemble
from pipeline.local_index import count_docs, index_path
from pipeline.model import INDEX_ALARMS, INDEX_DEADLETTER, INDEX_INVOCATIONS, INDEX_LOGS, INDEX_METRICS, INDEX_TRACES
from pipeline.parse import CORRELATION_PATHS
from pipeline.parse.redact import Redactor, redactor_for
from pipeline.progress_channel import progress_dir
from pipeline.sinks.advice_files import WriteAdviceJson
from pipeline.sinks.counters import beam_counters
from pipeline.sinks.index_files import join_index_shards
from pipeline.sinks.ledger_files import WriteLedger, count_dead_letters, split_ledger
from pipeline.sources.files import ReadLogFiles, split_dead_letters
from pipeline.sources.metric_files import ReadMetricFiles
from pipeline.transforms.metrics_and_alarms import AlarmConfig
from pipeline.transforms.report_aggregates import AggregateForReport

if TYPE_CHECKING:   # optional sinks: imported only when a run uses them
    from pipeline.sinks.es_client import EsSettings
    from pipeline.sinks.otel import OtlpSettings

# The indices this batch pipeline writes locally (joined from shards after the run).
LOCAL_INDICES = [INDEX_LOGS, INDEX_INVOCATIONS, INDEX_DEADLETTER, INDEX_TRACES, INDEX_METRICS, INDEX_ALARMS]

RUNNERS = {
    "fnapi": "apache_beam.runners.portability.fn_api_runner.FnApiRunner",
    "direct": "BundleBasedDirectRunner",
    "dask": "apache_beam.runners.dask.dask_runner.DaskRunner",
}


@dataclass
class RunConfig:
    inputs: list[str]
    out_dir: str = "coldtrace-out"
    runner: str = "fnapi"
    dask_address: str | None = None
    direct_num_workers: int = 1
    account: str | None = None
    region: str | None = None
    log_group: str | None = None
    architectures: dict[str, str] = field(default_factory=dict)
    correlation_paths: tuple[str, ...] = CORRELATION_PATHS
    beam_args: list[str] = field(default_factory=list)
    es: "EsSettings | None" = None  # pipeline.sinks.es_client.EsSettings: index into Elasticsearch too
    otlp: "OtlpSettings | None" = None  # pipeline.sinks.otel.OtlpSettings: export the trace spans too
    # Secrets and personal data are redacted as lines are read, before any sink (None: off).
    redactor: "Redactor | None" = field(default_factory=redactor_for)
    alarms: AlarmConfig = field(default_factory=AlarmConfig)  # rules, metric files, notifications


# Below this much input, starting worker processes costs more than a second core gains
# (bench/pipeline.py: 200,000 events in 28 MB ran 5.8 s on one worker, 5.0 s on two).
AUTO_WORKERS_MIN_BYTES = 16 << 20


def auto_workers(inputs: list[str], cores: int | None = None) -> int:
    """Worker processes for FnApiRunner: one per core for a large local input, else one.
    Remote inputs (``s3://``) are not sized: they get one worker."""

    cores = cores or os.cpu_count() or 1
    if cores < 2:
        return 1
    total = 0
    for pattern in inputs:
        if "://" in pattern:
            continue
        for path in glob.glob(pattern):
            if os.path.isfile(path):
                total += os.path.getsize(path)
            if total >= AUTO_WORKERS_MIN_BYTES:
                return cores
    return 1


# glibc's malloc raises its mmap threshold to the size of every large block freed (up to 32 MiB),
# so the runner's and the workers' shuffle buffers (hundreds of KB to MB each) then come from the
# heap, which fragments and is never given back: the processes' RSS grew with the input. A fixed
# threshold maps each large block on its own and unmaps it when freed (bench/scale.py, 1M events:
# peak RSS of the tree 1.88 -> 1.06 GiB).
MALLOC_THRESHOLD = 128 << 10
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt(3) parameters


def bound_malloc() -> None:
    """Fix glibc's mmap and trim thresholds in this process (``mallopt``) and, through the
    environment, in the worker processes it starts. A value the user set in the environment
    wins; where the C library is not glibc (macOS, musl) nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    for env, param in (("MALLOC_MMAP_THRESHOLD_", _M_MMAP_THRESHOLD), ("MALLOC_TRIM_THRESHOLD_", _M_TRIM_THRESHOLD)):
        if env not in os.environ:
            os.environ[env] = str(MALLOC_THRESHOLD)
            mallopt(param, MALLOC_THRESHOLD)


def pipeline_options(cfg: RunConfig) -> PipelineOptions:
    runner = RUNNERS.get(cfg.runner, cfg.runner)
    args = [f"--runner={runner}", *cfg.beam_args]
    if cfg.runner == "dask":
        if not cfg.dask_address:
            raise ValueError("--runner dask needs --dask-address tcp://HOST:PORT of a dask scheduler")
        args.append(f"--dask_client_address={cfg.dask_address}")
    if worker_processes(cfg):
        args.append(f"--direct_num_workers={cfg.direct_num_workers}")  # the processes: see beam_runner
    return PipelineOptions(args)


def worker_processes(cfg: RunConfig) -> bool:
    """Does this run start FnApiRunner worker processes (so its shuffle leaves the process)?"""
    return cfg.runner == "fnapi" and cfg.direct_num_workers > 1


class _QuietRunner(logging.Filter):
    """What FnApiRunner logs about our own choice of worker processes, and what workers relay
    that ``pipeline.beam_worker`` already keeps off stderr."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("direct_running_mode should be" in message or any(text in message for text in HARMLESS))


def beam_runner(cfg: RunConfig):
    """A runner instance where the options alone cannot say it, else None (``--runner`` decides).

    Several FnApiRunner workers are processes started as ``python -m pipeline.beam_worker``
    (Beam's harness with quiet start-up logging) rather than Beam's multi_processing mode,
    whose harness prints its INFO start-up lines into every run."""
    if not worker_processes(cfg):
        return None

    for name in ("apache_beam.runners.portability.fn_api_runner.fn_runner",
                 "apache_beam.runners.portability.local_job_service"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _QuietRunner) for f in logger.filters):
            logger.addFilter(_QuietRunner())
    stream_stage_inputs()
    command = f"{shlex.quote(sys.executable)} -m pipeline.beam_worker"
    return FnApiRunner(default_environment=SubprocessSDKEnvironment.from_command_string(command))


def build(p: beam.Pipeline, cfg: RunConfig) -> None:
    """The batch source (files, and metric files for the alarms), the batch shell, the graph."""
    read = p | "ReadLogFiles" >> ReadLogFiles(cfg.inputs, cfg.account, cfg.region, cfg.log_group,
                                              progress_dir=progress_dir(os.path.abspath(cfg.out_dir)),
                                              counts=True, redactor=cfg.redactor)
    read, source_counts = split_ledger(read, "Read")
    batches, read_dead = split_dead_letters(read, "Read")
    source = SourceOut(batches, [read_dead])
    if cfg.alarms.metrics_inputs:   # CloudWatch's (or any) metric files, as alarm inputs
        points, metrics_dead = split_dead_letters(
            p | "ReadMetricFiles" >> ReadMetricFiles(cfg.alarms.metrics_inputs), "Metrics")
        source.points.append(points)
        source.dead.append(metrics_dead)
    shell = BatchShell(cfg.architectures, cfg.correlation_paths, cfg.alarms.rules, compress=worker_processes(cfg))
    graph = assemble(p, source, shell, Sinks(cfg.out_dir, cfg.es, cfg.otlp, cfg.alarms.notify, cfg.alarms.advice_alarms))
    ledger = ((source_counts, shell.stream_counts, graph.dead | "CountDeadLetters" >> count_dead_letters())
              | "AllCounts" >> beam.Flatten()
              | "WriteLedger" >> WriteLedger(cfg.out_dir))
    report = ({"invocations": graph.invocations, "traces": shell.stitch.whole_traces, "points": graph.points,
               "alarms": graph.alarms}
              | "AggregateForReport" >> AggregateForReport(cfg.out_dir))
    advice = graph.advice | "WriteAdvice" >> WriteAdviceJson(cfg.out_dir)
    graph.finish([ledger, report, advice])


def run(cfg: RunConfig):
    """Run the batch pipeline to completion; returns Beam's PipelineResult, with ``.ledger`` set
    to the run's ``pipeline.ledger.Ledger`` (also written to ``<out>/ledger/ledger.json``)."""

    bound_malloc()
    ledger.clear(cfg.out_dir)
    shutil.rmtree(os.path.join(cfg.out_dir, "aggregates"), ignore_errors=True)  # the report's, of this run only
    indices = os.path.join(cfg.out_dir, "indices")
    shutil.rmtree(os.path.join(indices, ".shards"), ignore_errors=True)
    shutil.rmtree(progress_dir(cfg.out_dir), ignore_errors=True)  # live progress marks of this run only
    os.makedirs(indices, exist_ok=True)
    for name in os.listdir(indices):  # a run replaces the previous run's index files
        if name.startswith("coldtrace-") and name.endswith(".ndjson"):
            os.remove(os.path.join(indices, name))
    if cfg.es is not None:  # templates first, so every document lands in a mapped index
        from pipeline.sinks.es_setup import setup  # noqa: PLC0415 -- elasticsearch: +190-430 ms of import, paid only with --es-url (docs/benchmarks.md)

        setup(cfg.es)
    p = beam.Pipeline(runner=beam_runner(cfg), options=pipeline_options(cfg))
    build(p, cfg)
    result = p.run()
    try:
        result.wait_until_finish()
    finally:
        client = getattr(result, "client", None)  # DaskRunner leaves its client open
        if client is not None:
            client.close()
    join_index_shards(cfg.out_dir, LOCAL_INDICES)
    result.ledger = settle_ledger(cfg, result)
    return result


def settle_ledger(cfg: RunConfig, result=None):
    """Sum the run's count records, check them against the index files (and Beam's counters where
    the runner has them), write ``<out>/ledger/ledger.json``; returns the Ledger."""

    docs = {index: count_docs(index_path(cfg.out_dir, index)) for index in (INDEX_LOGS, INDEX_DEADLETTER)}
    led = ledger.balance(ledger.read_parts(cfg.out_dir), cfg.inputs, docs, INDEX_LOGS, INDEX_DEADLETTER)
    ledger.cross_check_metrics(led, beam_counters(result) if result is not None else None)
    ledger.write(led, cfg.out_dir)
    shutil.rmtree(ledger.parts_dir(cfg.out_dir), ignore_errors=True)
    return led
