"""The local streaming loop: repeated bounded catch-up reads with carried state.

No local runner runs an endless source: FnApiRunner runs a stage to completion before the
next, and BundleBasedDirectRunner cannot expand a splittable DoFn in streaming mode (and, in
batch mode, drops a deferred residual) — see tests/pipeline/test_local_runners_and_sdf.py. So
``coldtrace run --streaming`` reads in rounds, on any runner:

1. read every shard to its tip (or the new files, or the next CloudWatch time range), from the
   checkpoint — the same splittable DoFn Flink runs, in bounded mode;
2. continue each log stream's fold from its carried state, and each open metric window;
3. write the round's index shards, the folds and windows still open, and the final cursors;
   then, in the loop itself, continue the trace stitcher and the alarm evaluators with the
   round's invocations and metric points (``loop_state.py``) and write their shards too;
4. commit: save the checkpoint (cursors, watermark, state files, and the running account:
   events read = log lines indexed + duplicates dropped), then notify the round's alarm
   transitions and append the shards to the index files (both exactly once: see
   ``checkpoint.py`` and ``loop_outputs.py``); repeat.

The watermark a round flushes with is the one the previous rounds established, so a fold is
only flushed as ``unfinished`` once the source as a whole has moved past it.
"""

from __future__ import annotations

import glob
import os
import shutil
import time
from dataclasses import dataclass
from typing import Callable

import apache_beam as beam
import boto3

from pipeline.detect.health import fold_minutes
from pipeline.graph import CatchUpShell, Sinks, SourceOut, assemble
from pipeline.local_index import index_path
from pipeline.model import INDEX_ALARMS, INDEX_DEADLETTER, INDEX_INVOCATIONS, INDEX_LOGS, INDEX_METRICS, INDEX_TRACES
from pipeline.run import beam_runner, pipeline_options
from pipeline.sinks.counters import beam_counters
from pipeline.sinks.index_files import shard_prefix
from pipeline.sinks.record_files import ReadRecordFiles, WriteRecordFiles, read_records, record_files, write_records
from pipeline.sources.cloudwatch_api import metric_points
from pipeline.stitch.keys import trace_keys
from pipeline.streaming import checkpoint as ckpt
from pipeline.streaming.checkpoint import Checkpoint
from pipeline.streaming.config import StreamConfig
from pipeline.streaming.loop_advice import ADVICE_ROUND, ADVICE_STATE, carry_advice
from pipeline.streaming.loop_outputs import Notifications, index_into_es, save_alarms, write_shard
from pipeline.streaming.loop_state import LoopState
from pipeline.streaming.round_sources import rounds_for
from pipeline.transforms.redact_lines import RedactLines
from pipeline.windows import END_OF_TIME_MS, WINDOW_MS, window_start

STREAMING_INDICES = [INDEX_LOGS, INDEX_INVOCATIONS, INDEX_METRICS, INDEX_DEADLETTER, INDEX_TRACES, INDEX_ALARMS]
CARRIED = ("fold-state", "window-state", "loop-state", ADVICE_STATE)   # record files of state handed to the next read
DRAIN_WATERMARK_MS = END_OF_TIME_MS   # past every window and timer: what a drain flushes with


@dataclass
class RoundReport:
    round: int
    read_something: bool
    watermark_ms: int | None
    docs: dict[str, int]
    seconds: float
    done: bool = False


def _paths(ckdir: str, ck: Checkpoint, kind: str) -> list[str]:
    return [os.path.join(ckdir, p) for p in ck.state_files if os.path.basename(p).startswith(kind)]


def _max_ts(batch) -> int:
    return max(ev.timestamp for ev in batch)


def build_round(p: beam.Pipeline, cfg: StreamConfig, ck: Checkpoint, source, plan, rdir: str,
                watermark_ms: int | None, clock_ms: int | None = None) -> None:
    """One catch-up read: the source, the graph (``pipeline.graph``) in the catch-up shell,
    then the round's record files: carried state, and what the loop continues after the read."""
    r = cfg.run
    read = source.read(p, plan) if plan is not None else None
    batches = read.batches if read is not None else p | "NothingRead" >> beam.Create([])
    batches = batches | "RedactLines" >> RedactLines(r.redactor)
    dead = [read.dead | "RedactDeadLetters" >> RedactLines(r.redactor)] if read is not None else []
    shell = CatchUpShell(r.architectures, r.correlation_paths, watermark_ms, cfg.lateness_ms,
                         folds=p | "CarriedFolds" >> ReadRecordFiles(_paths(cfg.ckdir, ck, "fold-")),
                         windows=p | "CarriedWindows" >> ReadRecordFiles(_paths(cfg.ckdir, ck, "window-")),
                         clock_ms=clock_ms)
    graph = assemble(p, SourceOut(batches, dead), shell, Sinks(rdir, r.es, advice_alarms=r.alarms.advice_alarms))

    written = [
        shell.fold_carry | "WriteFolds" >> WriteRecordFiles(os.path.join(rdir, "fold-state")),
        shell.window_carry | "WriteWindows" >> WriteRecordFiles(os.path.join(rdir, "window-state")),
        (graph.invocations | "Traced" >> beam.Filter(lambda inv: bool(trace_keys(inv)))
         | "WriteTraced" >> WriteRecordFiles(os.path.join(rdir, "traced"))),
        graph.points | "WritePoints" >> WriteRecordFiles(os.path.join(rdir, "points")),
        (graph.invocations | "Functions" >> beam.Map(lambda inv: inv.function_name)
         | "DistinctFunctions" >> beam.Distinct() | "WriteFunctions" >> WriteRecordFiles(os.path.join(rdir, "functions"))),
        (batches | "MaxEventTime" >> beam.Map(_max_ts) | "Latest" >> beam.CombineGlobally(max).without_defaults()
         | "WriteEventTime" >> WriteRecordFiles(os.path.join(rdir, "event-time"))),
    ]
    if graph.advice is not None:   # the read's share of the advice aggregate (loop_advice.py)
        written.append(graph.advice | "WriteAdvice" >> WriteRecordFiles(os.path.join(rdir, ADVICE_ROUND)))
    if read is not None and read.progress is not None:
        written += [read.progress | "WriteProgress" >> WriteRecordFiles(os.path.join(rdir, "progress")),
                    read.health | "WriteHealth" >> WriteRecordFiles(os.path.join(rdir, "health"))]
    graph.finish(written)


def _records(rdir: str, name: str) -> list:
    return [rec for path in record_files(os.path.join(rdir, name)) for rec in read_records(path)]


def _write_points(rdir: str, name: str, points: list) -> None:
    write_shard(rdir, INDEX_METRICS, name, points)


class CatchUp:
    """The loop: ``step()`` runs one read and commits it; ``run()`` repeats until told to stop."""

    def __init__(self, cfg: StreamConfig, clock: Callable[[], float] = time.time) -> None:
        self.cfg, self.clock = cfg, clock
        self.notifications = Notifications(cfg.run.alarms.notify, cfg.run.es)
        self.source = rounds_for(cfg)
        self.path = os.path.join(cfg.ckdir, "checkpoint.json")
        self.ck = ckpt.load(self.path, cfg.source)
        os.makedirs(os.path.join(cfg.run.out_dir, "indices"), exist_ok=True)
        if self.ck.pending is not None:
            self._append()                    # a loop killed mid-append: finish it, exactly once

    def step(self, drain: bool = False) -> RoundReport:
        started = self.clock()
        ck = self.ck
        n = ck.round + 1
        rel = os.path.join("rounds", f"{n:08d}")
        rdir = os.path.join(self.cfg.ckdir, rel)
        shutil.rmtree(rdir, ignore_errors=True)
        os.makedirs(rdir)
        plan = self.source.plan(ck)
        watermark = DRAIN_WATERMARK_MS if drain else ck.watermark_ms
        p = beam.Pipeline(runner=beam_runner(self.cfg.run), options=pipeline_options(self.cfg.run))
        clock_ms = int(started * 1000)   # coldtrace's own minutes close, and are evaluated, by this clock
        build_round(p, self.cfg, ck, self.source, plan, rdir, watermark, clock_ms)
        result = p.run()
        result.wait_until_finish()
        counts = beam_counters(result, "coldtrace", ("events_read", "duplicate_events", "late_observations_dropped"))

        new = Checkpoint.from_json(ck.to_json())
        event_times = _records(rdir, "event-time")
        read_something = self.source.commit(new, plan, _records(rdir, "progress"), max(event_times, default=None))
        new.add(events_read=counts["events_read"], duplicates=counts["duplicate_events"],
                late_dropped=counts["late_observations_dropped"])
        now_ms = int(self.clock() * 1000)
        new.health, points = fold_minutes(ck.health, _records(rdir, "health"), DRAIN_WATERMARK_MS if drain else now_ms)
        _write_points(rdir, "health", points)
        new.functions = sorted(set(ck.functions) | set(_records(rdir, "functions")))
        points += self._poll_metrics(new, rdir, now_ms)
        self._carry_loop_state(ck, new, rdir, watermark, points, clock_ms, drain)
        new.round = n
        new.state_files = [os.path.relpath(path, self.cfg.ckdir) for kind in CARRIED
                           for path in record_files(os.path.join(rdir, kind))]
        new.pending = {"round_dir": rel, "sizes": {i: _size(index_path(self.cfg.run.out_dir, i))
                                                  for i in STREAMING_INDICES}}
        ckpt.save(self.path, new)             # the commit point
        self.ck = new
        docs = self._append()
        for old in glob.glob(os.path.join(self.cfg.ckdir, "rounds", "*")):
            if os.path.basename(old) != os.path.basename(rdir):
                shutil.rmtree(old, ignore_errors=True)
        return RoundReport(n, read_something, new.watermark_ms, docs, self.clock() - started,
                           self.source.done(new))

    def _carry_loop_state(self, ck: Checkpoint, new: Checkpoint, rdir: str, watermark: int | None,
                          loop_points: list, now_ms: int, drain: bool) -> None:
        """Traces and alarms of the round (``loop_state.py``): their shards, Elasticsearch, the
        alarms to notify after the commit, and the state for the next read."""

        cfg = self.cfg
        blobs = [rec for path in _paths(cfg.ckdir, ck, "loop-state") for rec in read_records(path)]
        state = LoopState.loads(blobs[0] if blobs else None, cfg.run.alarms.rules, cfg.trace_gap_ms,
                                cfg.trace_retention_ms)
        step = state.step(_records(rdir, "traced"), _records(rdir, "points") + loop_points, watermark,
                          cfg.lateness_ms, now_ms, drain, cfg.corrections)
        if cfg.run.alarms.advice_alarms:   # regressions in the carried advice aggregate, each raised once
            raised, new.advice_raised = carry_advice(_paths(cfg.ckdir, ck, ADVICE_STATE), rdir, ck.advice_raised)
            step.alarms += raised
        write_shard(rdir, INDEX_TRACES, "loop", step.spans)
        write_shard(rdir, INDEX_ALARMS, "loop", step.alarms)
        save_alarms(rdir, step.alarms)
        write_records(os.path.join(rdir, "loop-state-0.rec"), [state.dumps()])
        new.add(traces_emitted=step.traces, late_metric_points=step.late_points)
        if cfg.run.es is not None:
            index_into_es(cfg.run.es, {INDEX_METRICS: loop_points, INDEX_TRACES: step.spans,
                                       INDEX_ALARMS: step.alarms})

    def _poll_metrics(self, ck: Checkpoint, rdir: str, now_ms: int) -> list:
        """GetMetricData for the functions seen, minute by finished minute; returns the points."""
        cfg = self.cfg
        functions = sorted(set(ck.functions) | set(cfg.metrics_functions))
        if not (cfg.poll_metrics and functions):
            return []
        end = window_start(now_ms)
        start = ck.metrics_until_ms or end - 5 * WINDOW_MS
        if end <= start:
            return []


        client = boto3.session.Session().client("cloudwatch", region_name=cfg.run.region,
                                                endpoint_url=cfg.endpoint_url)
        points = metric_points(client, functions, start, end, account=cfg.run.account, region=cfg.run.region)
        _write_points(rdir, "cloudwatch", points)
        ck.metrics_until_ms = end
        return points

    def _append(self) -> dict[str, int]:
        """Notify the committed round's alarms (from the first not yet notified), then append its
        index shards to the index files (truncating first to the sizes saved before the append,
        so a repeated append never duplicates)."""
        pending = self.ck.pending
        assert pending is not None
        rdir = os.path.join(self.cfg.ckdir, pending["round_dir"])
        failed = self.notifications.send_round(rdir, pending, lambda: ckpt.save(self.path, self.ck))
        docs: dict[str, int] = {}
        for index in STREAMING_INDICES:
            target = index_path(self.cfg.run.out_dir, index)
            size = pending["sizes"].get(index, 0)
            with open(target, "ab") as out:
                out.truncate(size)
                lines = 0
                for shard in sorted(glob.glob(shard_prefix(rdir, index) + "-*.ndjson")):
                    with open(shard, "rb") as f:
                        data = f.read()
                    out.write(data)
                    lines += data.count(b"\n")
            docs[index] = lines // 2
        self.ck.pending = None
        self.ck.add(notifications_failed=failed, **{k.replace("coldtrace-", ""): v for k, v in docs.items()})
        ckpt.save(self.path, self.ck)
        return docs

    def run(self, max_rounds: int | None = None, until: Callable[[RoundReport], bool] | None = None,
            on_round: Callable[[RoundReport], None] | None = None, drain_at_end: bool = False,
            sleep: Callable[[float], None] = time.sleep) -> list[RoundReport]:
        """Rounds until ``max_rounds``, ``until(report)``, a finished backfill, or Ctrl-C (which
        stops between rounds: the checkpoint is always consistent). Reads that found something
        are followed at once; otherwise the loop pauses ``poll_s``."""
        reports: list[RoundReport] = []
        try:
            while max_rounds is None or len(reports) < max_rounds:
                report = self.step()
                reports.append(report)
                if on_round is not None:
                    on_round(report)
                if report.done or (until is not None and until(report)):
                    break
                if not report.read_something:
                    sleep(self.cfg.poll_s)
        except KeyboardInterrupt:
            pass
        if drain_at_end:
            report = self.step(drain=True)
            reports.append(report)
            if on_round is not None:
                on_round(report)
        return reports


def _size(path: str) -> int:
    return os.path.getsize(path) if os.path.exists(path) else 0
