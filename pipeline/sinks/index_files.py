"""Local index files: ``<out>/indices/<index>.ndjson`` in Elasticsearch bulk format.

Each document is an action line ``{"create":{"_index":…,"_id":…}}`` then the document, so the
files load into Elasticsearch unchanged and a replay of them never duplicates. Documents are
rendered in chunks so the writer handles few, large elements.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Iterator, Protocol

import apache_beam as beam
import orjson

CHUNK = 2000


class Indexable(Protocol):
    def doc_id(self) -> str: ...
    def to_doc(self) -> dict[str, Any]: ...


def bulk_lines(index: str, records: Iterable[Indexable]) -> Iterator[str]:
    for rec in records:
        yield orjson.dumps({"create": {"_index": index, "_id": rec.doc_id()}}).decode()
        yield orjson.dumps(rec.to_doc()).decode()


def render_chunks(index: str, records: Iterable[Indexable], chunk: int = CHUNK) -> Iterator[str]:
    """Bulk text in chunks of ``chunk`` documents (no trailing newline: the writer adds it)."""
    buf: list[Indexable] = []
    for rec in records:
        buf.append(rec)
        if len(buf) >= chunk:
            yield "\n".join(bulk_lines(index, buf))
            buf = []
    if buf:
        yield "\n".join(bulk_lines(index, buf))


def index_path(out_dir: str, index: str) -> str:
    return os.path.join(out_dir, "indices", f"{index}.ndjson")


def _shard_of(rec: Indexable, shards: int) -> int:
    return int(rec.doc_id()[:8], 16) % shards


class RenderDocs(beam.PTransform):
    """Records → bulk-text chunks. Records are gathered into a few shards by id (GroupByKey)
    rather than with BatchElements, whose end-of-bundle flush Beam's DaskRunner drops."""

    def __init__(self, index: str, shards: int = 16) -> None:
        super().__init__()
        self.index, self.shards = index, shards

    def expand(self, records):
        index, shards = self.index, self.shards
        return (records
                | "Shard" >> beam.Map(lambda r: (_shard_of(r, shards), r))
                | "Gather" >> beam.GroupByKey()
                | "Render" >> beam.FlatMap(lambda kv: render_chunks(index, kv[1])))


class WriteIndexFile(beam.PTransform):
    """PCollection of rendered bulk chunks → one file ``<out>/indices/<index>.ndjson``."""

    def __init__(self, out_dir: str, index: str) -> None:
        super().__init__()
        self.out_dir, self.index = out_dir, index

    def expand(self, chunks):
        return chunks | "Write" >> beam.io.WriteToText(
            index_path(self.out_dir, self.index), shard_name_template="", num_shards=1)


def read_index(path: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(action, document) pairs of a local index file."""
    with open(path, "rb") as f:
        action = None
        for line in f:
            if not line.strip():
                continue
            if action is None:
                action = orjson.loads(line)
            else:
                yield action, orjson.loads(line)
                action = None
