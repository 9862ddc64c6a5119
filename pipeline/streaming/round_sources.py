"""What one catch-up read reads, per source kind, and how its checkpoint advances.

Each source plans a bounded read from the checkpoint, applies it to a pipeline, and commits
what the read reports (shard cursors, files read, time read up to) into the next checkpoint,
with the watermark the read established:
- Kinesis: every shard to its tip; the watermark is the lowest shard's arrival mark
  (ApproximateArrivalTimestamp) minus the delivery delay measured on it (the p99 of arrival −
  event time, within a floor and ``--delivery-delay``: ``pipeline.sources.delivery_delay``),
  carried in the checkpoint from read to read.
- Files: the files that appeared since; event time read so far, capped at now, minus the delay.
- CloudWatch: FilterLogEvents from where the last read stopped (less an overlap for late
  ingestion) to now; the end of the range minus the delay. A range with an end is a backfill:
  done once read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline.run import pipeline_options
from pipeline.sources.cloudwatch import ReadCloudWatchLogs, parse_cloudwatch_uri
from pipeline.sources.delivery_delay import DelayWindow, shard_hold_ms, watermark_ms
from pipeline.sources.file_watch import ReadFileList, match_new, watch_pattern
from pipeline.sources.files import split_dead_letters
from pipeline.sources.kinesis import KinesisSpec, ReadKinesis
from pipeline.streaming.checkpoint import Checkpoint
from pipeline.streaming.config import StreamConfig, kinesis_stream

CLOUDWATCH_SETTLE_MS = 10_000    # FilterLogEvents may not show the last seconds yet


@dataclass
class RoundRead:
    batches: Any
    dead: Any
    health: Any = None      # MetricPoints of the pipeline's own iterator age
    progress: Any = None    # ShardProgress records


def _now_ms() -> int:
    return int(time.time() * 1000)


def _advance(ck: Checkpoint, value: int | None) -> None:
    if value is not None and (ck.watermark_ms is None or value > ck.watermark_ms):
        ck.watermark_ms = value


class KinesisRounds:
    def __init__(self, cfg: StreamConfig) -> None:
        self.cfg = cfg
        self.stream = kinesis_stream(cfg.source)

    def plan(self, ck: Checkpoint):
        c = self.cfg
        return KinesisSpec(self.stream, start=c.start, cursors=tuple(ck.cursors), finished=tuple(ck.finished),
                           bounded=True, region=c.run.region, endpoint_url=c.endpoint_url, account=c.run.account,
                           delivery_delay_ms=c.delivery_delay_ms, delays=dict(ck.delays))

    def read(self, p: beam.Pipeline, plan) -> RoundRead:
        # BundleBasedDirectRunner cannot run the splittable DoFn: the same read, one DoFn call per shard
        out = p | "ReadKinesis" >> ReadKinesis(plan, io=self.cfg.kinesis_io, splittable=self.cfg.run.runner != "direct")
        return RoundRead(out.batches, out.dead, out.health, out.progress)

    def commit(self, ck: Checkpoint, plan, progress: list, max_event_ms: int | None) -> bool:
        """Apply the shards' final cursors; True when the read found records."""
        cursors = {c.shard_id: c for c in ck.cursors}
        finished = list(ck.finished)
        marks = dict(ck.marks)
        delays = dict(ck.delays)
        records = 0
        for p in progress:
            records += p.records
            if p.finished:
                cursors.pop(p.shard_id, None)
                marks.pop(p.shard_id, None)
                delays.pop(p.shard_id, None)
                if p.shard_id not in finished:
                    finished.append(p.shard_id)
            else:
                cursors[p.shard_id] = p.cursor
                if p.mark_ms is not None:
                    marks[p.shard_id] = max(p.mark_ms, marks.get(p.shard_id, p.mark_ms))
                if getattr(p, "delays", None) is not None:   # (progress written before delays were measured)
                    delays[p.shard_id] = p.delays
        ck.cursors, ck.finished, ck.marks, ck.delays = list(cursors.values()), finished, marks, delays
        holds = {s: shard_hold_ms(DelayWindow.from_json(delays.get(s)), self.cfg.delivery_delay_ms) for s in cursors}
        _advance(ck, watermark_ms({s: marks.get(s) for s in cursors}, holds))
        ck.add(records=records, throttled=sum(p.throttled for p in progress))
        return records > 0

    def done(self, ck: Checkpoint) -> bool:
        return False


class FileRounds:
    def __init__(self, cfg: StreamConfig) -> None:
        self.cfg = cfg
        self.patterns = [watch_pattern(cfg.source)]

    def plan(self, ck: Checkpoint):
        FileSystems.set_options(pipeline_options(self.cfg.run))  # s3:// endpoint and keys, if given
        return match_new(self.patterns, ck.seen_files, self.cfg.max_files) or None

    def read(self, p: beam.Pipeline, plan) -> RoundRead:
        r = self.cfg.run
        mixed = p | "ReadFiles" >> ReadFileList([path for path, _ in plan], r.account, r.region, r.log_group)
        batches, dead = split_dead_letters(mixed, "Read")
        return RoundRead(batches, dead)

    def commit(self, ck: Checkpoint, plan, progress: list, max_event_ms: int | None) -> bool:
        for path, size in plan or ():
            ck.seen_files[path] = size
        if max_event_ms is not None:
            _advance(ck, min(max_event_ms, _now_ms()) - self.cfg.delivery_delay_ms)
        ck.add(files=len(plan or ()))
        return bool(plan)

    def done(self, ck: Checkpoint) -> bool:
        return False


class CloudWatchRounds:
    def __init__(self, cfg: StreamConfig) -> None:
        self.cfg = cfg
        self.group, self.start_ms, self.end_ms = parse_cloudwatch_uri(cfg.source)

    def plan(self, ck: Checkpoint):
        until = _now_ms() - CLOUDWATCH_SETTLE_MS
        if self.end_ms is not None:
            until = min(until, self.end_ms)
        if ck.until_ms is None:
            since = self.start_ms if self.start_ms is not None else until - self.cfg.delivery_delay_ms
        else:   # overlap: lines ingested late land behind where the last read stopped
            since = max(ck.until_ms - self.cfg.delivery_delay_ms, self.start_ms or 0)
        return (since, until) if until > since else None

    def read(self, p: beam.Pipeline, plan) -> RoundRead:
        r = self.cfg.run
        since, until = plan
        batches = p | "ReadCloudWatchLogs" >> ReadCloudWatchLogs(self.group, since, until, account=r.account,
                                                                 region=r.region, endpoint_url=self.cfg.endpoint_url)
        return RoundRead(batches, p | "NoDeadLetters" >> beam.Create([]))

    def commit(self, ck: Checkpoint, plan, progress: list, max_event_ms: int | None) -> bool:
        if plan is None:
            return False
        ck.until_ms = plan[1]
        _advance(ck, plan[1] - self.cfg.delivery_delay_ms)
        return max_event_ms is not None

    def done(self, ck: Checkpoint) -> bool:
        return self.end_ms is not None and ck.until_ms is not None and ck.until_ms >= self.end_ms


def rounds_for(cfg: StreamConfig):
    return {"kinesis": KinesisRounds, "files": FileRounds, "cloudwatch": CloudWatchRounds}[cfg.kind](cfg)
