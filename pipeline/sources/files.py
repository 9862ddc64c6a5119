"""Beam source: log files (subscription payloads, CloudWatch exports, spool NDJSON), local or S3.

Each matched file is read by one DoFn call that yields batches of one log stream's events;
undecodable input becomes a DeadLetter with its reason. Both travel in one PCollection and are
split by type afterwards (``split_dead_letters``): Beam's DaskRunner does not route tagged
outputs, and a plain type filter runs the same on every runner.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.metrics import Metrics

from pipeline.gc_tuning import tune_gc
from pipeline.ledger import SourceCounts
from pipeline.model import DeadLetter, stream_key
from pipeline.parse.redact import redact_dead_letter
from pipeline.progress_channel import ProgressMarks
from pipeline.sources.formats import PayloadEvents, read_stream


def _is_dead(item: object) -> bool:
    return isinstance(item, DeadLetter)


def split_dead_letters(items, label: str):
    """(items that are not dead letters, dead letters) of a mixed PCollection."""
    good = items | f"{label}Good" >> beam.Filter(lambda x: not _is_dead(x))
    dead = items | f"{label}Dead" >> beam.Filter(_is_dead)
    return good, dead


class _ReadFile(beam.DoFn):
    def __init__(self, account: str | None, region: str | None, log_group: str | None,
                 progress_dir: str | None = None, counts: bool = False, redactor=None) -> None:
        self.account, self.region, self.log_group = account, region, log_group
        self.progress_dir = progress_dir
        self.counts = counts        # yield a pipeline.ledger.SourceCounts after each file
        self.redactor = redactor    # a pipeline.parse.redact.Redactor, applied before anything else sees a line
        self.files = Metrics.counter("coldtrace", "files_read")
        self.events = Metrics.counter("coldtrace", "events_read")
        self.dead = Metrics.counter("coldtrace", "dead_letters_read")
        self.marks = None

    def setup(self) -> None:
        tune_gc()

    def start_bundle(self) -> None:
        if self.progress_dir and self.marks is None:  # live progress (pipeline.progress_channel)

            self.marks = ProgressMarks(self.progress_dir)

    def process(self, readable: fileio.ReadableFile):
        path = readable.metadata.path
        self.files.inc()
        marks = self.marks
        counts = redactor = None
        if self.counts:
            counts = SourceCounts(path)
        if self.redactor:
            redactor = self.redactor
        file_ms = int((readable.metadata.last_updated_in_seconds or 0) * 1000)
        with readable.open(compression_type=beam.io.filesystem.CompressionTypes.UNCOMPRESSED) as fh:
            for item in read_stream(fh, path, self.account, self.region, self.log_group, counts):
                if isinstance(item, DeadLetter):
                    self.dead.inc()
                    if file_ms:  # the input's own time, so a rerun gives the same documents
                        item.time_ms = file_ms
                    if counts is not None:
                        counts.dead_letters += 1
                    if redactor is not None:
                        redact_dead_letter(redactor, item)
                else:
                    self.events.inc(len(item))
                    if counts is not None:
                        counts.add_batch(stream_key, item)
                    if redactor is not None and redactor.redact_events(item) and isinstance(item, PayloadEvents):
                        item.gzip = None  # the payload as read still holds what was redacted
                    if marks is not None and item:
                        marks.add(len(item), max(ev.timestamp for ev in item), path)
                yield item
        if counts is not None:
            yield counts

    def finish_bundle(self) -> None:
        if self.marks is not None:
            self.marks.flush()

    def teardown(self) -> None:
        if self.marks is not None:
            self.marks.close()


class ReadLogFiles(beam.PTransform):
    """Files matching the patterns → PCollection of event batches and DeadLetters."""

    def __init__(self, patterns: list[str], account: str | None = None, region: str | None = None,
                 log_group: str | None = None, progress_dir: str | None = None, counts: bool = False,
                 redactor=None) -> None:
        super().__init__()
        self.patterns, self.account, self.region, self.log_group = patterns, account, region, log_group
        self.progress_dir = progress_dir  # where readers leave progress marks (None: nowhere)
        self.counts = counts  # also yield one pipeline.ledger.SourceCounts per file (split_ledger)
        self.redactor = redactor  # pipeline.parse.redact.Redactor, or None: lines as read

    def expand(self, pbegin):
        return (pbegin
                | "Patterns" >> beam.Create(self.patterns)
                | "Match" >> fileio.MatchAll(empty_match_treatment=fileio.EmptyMatchTreatment.DISALLOW)
                | "Reshuffle" >> beam.Reshuffle()
                | "Open" >> fileio.ReadMatches()
                | "Decode" >> beam.ParDo(_ReadFile(self.account, self.region, self.log_group, self.progress_dir,
                                                   self.counts, self.redactor)))
