"""Record files: any picklable elements, one file of length-prefixed pickles per bundle.

The local catch-up loop hands state from one bounded read to the next through these files
(the fold of every open log stream, each shard's final cursor, the pipeline's health points).
Like the index shard files, a file is written as ``.part`` and renamed when its bundle ends,
so a failed bundle leaves nothing a reader would pick up.
"""

from __future__ import annotations

import glob
import os
import pickle
import struct
from typing import Any, Iterable, Iterator

import apache_beam as beam

from pipeline.sinks.bundle_files import BundleFileDoFn

_LEN = struct.Struct(">I")


def write_records(path: str, records: Iterable[Any]) -> None:
    with open(path + ".part", "wb") as f:
        for rec in records:
            blob = pickle.dumps(rec, protocol=pickle.HIGHEST_PROTOCOL)
            f.write(_LEN.pack(len(blob)))
            f.write(blob)
    os.replace(path + ".part", path)


def read_records(path: str) -> Iterator[Any]:
    with open(path, "rb") as f:
        while True:
            head = f.read(_LEN.size)
            if not head:
                return
            if len(head) < _LEN.size:
                raise ValueError(f"{path}: truncated record file")
            (size,) = _LEN.unpack(head)
            blob = f.read(size)
            if len(blob) < size:
                raise ValueError(f"{path}: truncated record file")
            yield pickle.loads(blob)


def record_files(prefix: str) -> list[str]:
    return sorted(glob.glob(prefix + "-*.rec"))


class _WriteBundle(BundleFileDoFn):
    suffix = ".rec"

    def process(self, rec: Any):
        f, _ = self.bundle_file()
        blob = pickle.dumps(rec, protocol=pickle.HIGHEST_PROTOCOL)
        f.write(_LEN.pack(len(blob)))
        f.write(blob)
        return ()


class WriteRecordFiles(beam.PTransform):
    """Elements → ``<prefix>-<uuid>.rec`` files (local or shared file systems)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def expand(self, pcoll):
        return pcoll | "WriteBundles" >> beam.ParDo(_WriteBundle(self.prefix))


class ReadRecordFiles(beam.PTransform):
    """The records of the given files (an empty list reads nothing)."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self.paths = list(paths)

    def expand(self, pbegin):
        return (pbegin
                | "Paths" >> beam.Create(self.paths)
                | "Records" >> beam.FlatMap(read_records))
