"""Files in streaming mode: watch a directory, glob or S3 prefix for new files.

The forwarder's spool and Firehose deliveries write whole files, atomically and once, so a
file is read when it first appears and never again. Two shells over the same reader
(``pipeline.sources.files``):

- ``WatchLogFiles``: Beam's ``fileio.MatchContinuously`` polling, for runners that run an
  endless pipeline (FlinkRunner, DataflowRunner);
- ``match_new`` + ``ReadFileList``: the local catch-up loop lists what is new since its
  checkpoint (path → size) and reads exactly those files in a bounded read.
"""

from __future__ import annotations

import os

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

from pipeline.sources.files import _ReadFile

IN_PROGRESS = (".tmp", ".part")   # files being written (renamed into place when complete)


def watch_pattern(source: str) -> str:
    """A directory means its files; ``s3://bucket/prefix`` every object under the prefix, at any
    depth (Firehose writes ``prefix/YYYY/MM/DD/HH/…``; in Beam's globs only ``**`` crosses a
    ``/``); a glob stays a glob."""
    if any(ch in source for ch in "*?["):
        return source
    if "://" in source:
        return source + "**"
    return os.path.join(source, "*") if os.path.isdir(source) else source


def match_new(patterns: list[str], seen: dict[str, int], limit: int | None = None) -> list[tuple[str, int]]:
    """(path, size) of matching files not read before, in name order (at most ``limit``).

    Uses Beam's FileSystems (local, s3:// with the S3 options already set)."""
    found: dict[str, int] = {}
    for result in FileSystems.match(patterns):
        for meta in result.metadata_list:
            path = meta.path
            if path in seen or path.endswith(IN_PROGRESS) or path.endswith("/"):
                continue
            found[path] = meta.size_in_bytes
    new = sorted(found.items())
    return new[:limit] if limit else new


class ReadFileList(beam.PTransform):
    """These files (paths as they are: no glob interpretation) → event batches and DeadLetters."""

    def __init__(self, paths: list[str], account: str | None = None, region: str | None = None,
                 log_group: str | None = None) -> None:
        super().__init__()
        self.paths, self.account, self.region, self.log_group = list(paths), account, region, log_group

    def expand(self, pbegin):
        return (pbegin
                | "Paths" >> beam.Create(self.paths)
                | "Reshuffle" >> beam.Reshuffle()
                | "Open" >> fileio.ReadMatches()
                | "Decode" >> beam.ParDo(_ReadFile(self.account, self.region, self.log_group)))


class WatchLogFiles(beam.PTransform):
    """New files under the patterns, polled every ``interval_s`` forever → batches and DeadLetters."""

    def __init__(self, patterns: list[str], interval_s: float = 30.0, account: str | None = None,
                 region: str | None = None, log_group: str | None = None) -> None:
        super().__init__()
        self.patterns, self.interval_s = list(patterns), interval_s
        self.account, self.region, self.log_group = account, region, log_group

    def expand(self, pbegin):
        matched = [pbegin | f"Watch{i}" >> fileio.MatchContinuously(pattern, interval=self.interval_s)
                   for i, pattern in enumerate(self.patterns)]
        files = matched[0] if len(matched) == 1 else tuple(matched) | "AllMatches" >> beam.Flatten()
        return (files
                | "Complete" >> beam.Filter(lambda m: not m.path.endswith(IN_PROGRESS))
                | "Open" >> fileio.ReadMatches()
                | "Decode" >> beam.ParDo(_ReadFile(self.account, self.region, self.log_group)))
