"""Bytes that a process holds for later, kept to a few MiB in memory and the rest on disk.

FnApiRunner keeps every stage's output in its own process until the stage that reads it runs:
that is how it does a batch shuffle. memray at 4M events found the runner holding 180 MiB of one
group (the fold's input, grouped by log stream) and, later, 145 MiB of outputs arriving from the
workers, both growing with the input. ``pipeline.fnapi_inputs`` keeps those buffers here instead:

- ``ChunkList``: a stage output as Beam holds it, a list of encoded chunks, in order;
- ``KeyedChunks``: a group's elements, still encoded, spread over ``PARTITIONS`` by a hash of
  their key, so that one partition at a time is read back and grouped.

Each keeps at most ``SPILL_BYTES`` in memory; past that its chunks go to one unlinked
temporary file (``tempfile``: ``TMPDIR`` chooses the disk), which the operating system removes
when the last reader lets it go. Pure: files and bytes, no Beam.
"""

from __future__ import annotations

import tempfile
import threading
import zlib
from collections.abc import Iterable, Iterator

SPILL_BYTES = 8 << 20   # a buffer's chunks held in memory before they go to disk
PARTITIONS = 64         # a group is read back one partition (a sixty-fourth) at a time


class SpillFile:
    """An unlinked temporary file that chunks are appended to and read back from, by offset.
    Shared by a buffer and its copies; one lock, so readers in sender threads and the writer
    never interleave a seek."""

    def __init__(self) -> None:
        self._f = tempfile.TemporaryFile(prefix="coldtrace-spill-")
        self._lock = threading.Lock()
        self.size = 0

    def write(self, data: bytes | bytearray) -> tuple[int, int]:
        with self._lock:
            offset = self.size
            self._f.seek(offset)
            self._f.write(data)
            self.size += len(data)
        return offset, len(data)

    def read(self, offset: int, length: int) -> bytes:
        with self._lock:
            self._f.seek(offset)
            data = self._f.read(length)
        if len(data) != length:
            raise OSError(f"spill file cut short: {len(data)} of {length} bytes at {offset}")
        return data


class ChunkList:
    """A list of bytes chunks in order: the first on disk, the last ``SPILL_BYTES`` or fewer in
    memory. Supports what FnApiRunner's ``ListBuffer`` does with its list: append, extend,
    len, iteration and ``[k::n]``."""

    def __init__(self) -> None:
        self._file: SpillFile | None = None
        self._spilled: list[tuple[int, int]] = []
        self._mem: list[bytes] = []
        self._mem_bytes = 0

    def append(self, chunk: bytes) -> None:
        self._mem.append(chunk)
        self._mem_bytes += len(chunk)
        if self._mem_bytes > SPILL_BYTES:
            if self._file is None:
                self._file = SpillFile()
            self._spilled.extend(self._file.write(c) for c in self._mem)
            self._mem, self._mem_bytes = [], 0

    def extend(self, chunks: Iterable[bytes]) -> None:
        for chunk in chunks:
            self.append(chunk)

    def copy(self) -> ChunkList:
        """Another list of the same chunks: the file is shared (chunks are never rewritten)."""
        new = ChunkList()
        new._file, new._spilled, new._mem, new._mem_bytes = self._file, list(self._spilled), list(self._mem), self._mem_bytes
        return new

    def __len__(self) -> int:
        return len(self._spilled) + len(self._mem)

    def every(self, start: int, step: int) -> Iterator[bytes]:
        """Chunks ``start``, ``start + step``, …: read from disk one at a time."""
        spilled, mem, file = list(self._spilled), list(self._mem), self._file
        for i in range(start, len(spilled) + len(mem), step):
            yield file.read(*spilled[i]) if i < len(spilled) else mem[i - len(spilled)]

    def __iter__(self) -> Iterator[bytes]:
        return self.every(0, 1)

    def __getitem__(self, index):
        if isinstance(index, slice) and index.stop is None and (index.step or 1) > 0:
            return list(self.every(index.start or 0, index.step or 1))
        return list(self)[index]

    @property
    def spilled_bytes(self) -> int:
        return sum(n for _, n in self._spilled)


class KeyedChunks:
    """Encoded elements spread over ``PARTITIONS`` by a hash of their encoded key (crc32: the
    same in every process and run), each partition's elements in the order they came."""

    def __init__(self) -> None:
        self._file: SpillFile | None = None
        self._spilled: list[list[tuple[int, int]]] = [[] for _ in range(PARTITIONS)]
        self._mem: list[bytearray | None] = [bytearray() for _ in range(PARTITIONS)]
        self._mem_bytes = 0

    def add(self, encoded_key: bytes, element: bytes) -> None:
        self._mem[zlib.crc32(encoded_key) % PARTITIONS] += element
        self._mem_bytes += len(element)
        if self._mem_bytes > SPILL_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._file is None:
            self._file = SpillFile()
        for p, buf in enumerate(self._mem):
            if buf:
                self._spilled[p].append(self._file.write(buf))
                self._mem[p] = bytearray()
        self._mem_bytes = 0

    def extend(self, other: KeyedChunks) -> None:
        """Add ``other``'s elements after this one's, partition by partition."""
        for p in range(PARTITIONS):
            data = other.read(p)
            if data:
                self._mem[p] += data
                self._mem_bytes += len(data)
        if self._mem_bytes > SPILL_BYTES:
            self._flush()

    def read(self, p: int) -> bytes:
        """Partition ``p``'s elements, one bytes object."""
        mem = self._mem[p]
        if mem is None:
            raise RuntimeError(f"spilled partition {p} was read again after it was dropped")
        if not self._spilled[p]:
            return bytes(mem)
        return b"".join([*(self._file.read(*at) for at in self._spilled[p]), mem])

    def drop(self, p: int) -> None:
        """Forget partition ``p`` (its bytes on disk stay until the file is closed)."""
        self._mem[p] = None
        self._spilled[p] = []
