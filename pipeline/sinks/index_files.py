"""Local index files: ``<out>/indices/<index>.ndjson`` in Elasticsearch bulk format.

Each document is an action line ``{"create":{"_index":…,"_id":…}}`` then the document, so the
files load into Elasticsearch unchanged and a replay of them never duplicates. Indices whose
documents are re-emitted with new content (traces, see ``pipeline.model.bulk_op``) use
``{"index":…}`` instead: a streaming run appends the newer version, and loading the file (or
``latest_docs``) keeps the last one. Documents are
rendered in chunks so the writer handles few, large elements.
"""

from __future__ import annotations

import glob
import os
import shutil
from typing import Any, Iterable, Iterator, Protocol

import apache_beam as beam
import orjson

from pipeline.local_index import index_path
from pipeline.model import bulk_op
from pipeline.sinks.bundle_files import BundleFileDoFn

CHUNK = 2000


class Indexable(Protocol):
    def doc_id(self) -> str: ...
    def to_doc(self) -> dict[str, Any]: ...


def bulk_lines(index: str, records: Iterable[Indexable]) -> Iterator[str]:
    # Index names and hex ids need no JSON escaping: the action line is plain text formatting.
    head = '{"' + bulk_op(index) + '":{"_index":"' + index + '","_id":"'
    dumps = orjson.dumps
    for rec in records:
        yield head + rec.doc_id() + '"}}'
        yield dumps(rec.to_doc()).decode()


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


def _renderer(index: str):
    """One record → its action line and document, as bytes."""
    head = ('{"' + bulk_op(index) + '":{"_index":"' + index + '","_id":"').encode()
    dumps = orjson.dumps

    def render(rec: Indexable) -> bytes:
        return head + rec.doc_id().encode() + b'"}}\n' + dumps(rec.to_doc())

    return render


def render_bulk(index: str, records: Iterable[Indexable], chunk: int = CHUNK) -> Iterator[bytes]:
    """``render_chunks`` as UTF-8 bytes, for the file writers: orjson's bytes go into the chunk
    as they are, never decoded to text and encoded back (one non-ASCII message would make a
    whole text chunk a wide string). About a quarter cheaper per log document."""
    render = _renderer(index)
    buf: list[bytes] = []
    for rec in records:
        buf.append(render(rec))
        if len(buf) >= chunk:
            yield b"\n".join(buf)
            buf = []
    if buf:
        yield b"\n".join(buf)


def shard_prefix(out_dir: str, index: str) -> str:
    return os.path.join(out_dir, "indices", ".shards", index)


class RenderDocs(beam.PTransform):
    """Records → bulk bytes (action line and document), rendered where each record is and
    written by the same fused stage: no shuffle. A gather into larger chunks cost a
    GroupByKey crossing per record, more than the writer's per-element call it saved."""

    def __init__(self, index: str) -> None:
        super().__init__()
        self.index = index

    def expand(self, records):
        return records | "Render" >> beam.Map(_renderer(self.index))


class _WriteShards(BundleFileDoFn):
    """Appends chunks to one shard file per bundle (see ``bundle_files``); the join after the
    run ignores the ``.part`` file a failed bundle leaves."""

    suffix = ".ndjson"

    def process(self, chunk: bytes | str):
        f, opened = self.bundle_file()
        if opened:
            yield self._path
        f.write(chunk if type(chunk) is bytes else chunk.encode("utf-8", "surrogatepass"))
        f.write(b"\n")


class WriteIndexFile(beam.PTransform):
    """PCollection of rendered bulk chunks → shard files, joined into
    ``<out>/indices/<index>.ndjson`` by ``join_index_shards`` after the run. Writers work in
    parallel with no shuffle (a single forced shard funnels every document through one
    GroupByKey). Local (or shared) file systems only."""

    def __init__(self, out_dir: str, index: str) -> None:
        super().__init__()
        self.out_dir, self.index = out_dir, index

    def expand(self, chunks):
        return chunks | "WriteShards" >> beam.ParDo(_WriteShards(shard_prefix(self.out_dir, self.index)))


def _append_file(src, dst) -> None:
    """Copy all of ``src`` to the end of ``dst``: in the kernel where it can (copy_file_range:
    about 6x faster than copying through Python on a gigabyte of logs), else in 1 MiB blocks."""
    size = os.fstat(src.fileno()).st_size
    copy_range = getattr(os, "copy_file_range", None)
    if copy_range is not None:
        dst.flush()
        try:
            done = 0
            while done < size:
                n = copy_range(src.fileno(), dst.fileno(), size - done)
                if n == 0:
                    break
                done += n
            if done == size:
                dst.seek(0, os.SEEK_END)
                return
            src.seek(done)
        except OSError:  # not supported across these file systems: copy the rest in user space
            src.seek(os.lseek(src.fileno(), 0, os.SEEK_CUR))
            dst.seek(0, os.SEEK_END)
    shutil.copyfileobj(src, dst, 1 << 20)


def join_index_shards(out_dir: str, indices: Iterable[str]) -> None:
    """Concatenate each index's shards into its one file; remove the shards.

    The largest shard becomes the file (a rename) and the others are appended to it, so most
    of a gigabyte of logs is never copied. Shard names are random: the order of documents in
    the file carries no meaning."""
    for index in indices:
        shards = sorted(glob.glob(shard_prefix(out_dir, index) + "-*.ndjson"), key=os.path.getsize, reverse=True)
        target = index_path(out_dir, index)
        if shards:
            os.replace(shards[0], target + ".tmp")
        else:
            open(target + ".tmp", "wb").close()
        with open(target + ".tmp", "r+b") as out:  # not "ab": copy_file_range refuses O_APPEND
            out.seek(0, os.SEEK_END)
            for shard in shards[1:]:
                with open(shard, "rb") as f:
                    _append_file(f, out)
        os.replace(target + ".tmp", target)
    shutil.rmtree(os.path.join(out_dir, "indices", ".shards"), ignore_errors=True)
