"""Small mergeable parts of the report's aggregate: an exact float sum, int/float arrays as JSON
text (little-endian base64: compact and the same on every machine), invocation intervals packed
for the shuffle, and None-tolerant min/max."""

from __future__ import annotations

import base64
import sys
import zlib
from array import array

import numpy as np


def fsum_add(partials: list[float], x: float) -> None:
    """Shewchuk's exact running sum (the partials ``math.fsum`` would keep)."""
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]


def array_to_json(a: array) -> str:
    b = a if sys.byteorder == "little" else array(a.typecode, a)
    if sys.byteorder != "little":
        b.byteswap()
    return base64.b64encode(b.tobytes()).decode("ascii")


def array_from_json(typecode: str, text: str) -> array:
    a = array(typecode)
    a.frombytes(base64.b64decode(text))
    if sys.byteorder != "little":
        a.byteswap()
    return a


def pack_intervals(starts: array, ends: array) -> bytes:
    """Two int64 columns of (start, end) as the concurrency sweep reads them
    (``series.sweep``: each end raised to its start, then every start and every end as points in
    time, unpaired): each column sorted, delta-coded and deflated. A partial aggregate crosses
    Beam's shuffle pickled; at 4M events its columns were 10 of its 12 MiB, copied five or six
    times in flight (the pickle, the output stream, the message, gRPC's copy, the receiving side)."""
    s = np.frombuffer(starts, dtype=np.int64)
    e = np.sort(np.maximum(np.frombuffer(ends, dtype=np.int64), s))
    s = np.sort(s)
    deltas = np.concatenate([np.diff(s, prepend=0), np.diff(e, prepend=0)]).astype("<i8")
    return len(s).to_bytes(8, "little") + zlib.compress(deltas.tobytes(), 1)


def unpack_intervals(packed: bytes) -> tuple[array, array]:
    """``pack_intervals``' columns back: starts and ends, each sorted."""
    n = int.from_bytes(packed[:8], "little")
    both = np.frombuffer(zlib.decompress(packed[8:]), dtype="<i8")
    starts, ends = array("q"), array("q")
    starts.frombytes(np.cumsum(both[:n], dtype=np.int64).tobytes())
    ends.frombytes(np.cumsum(both[n:], dtype=np.int64).tobytes())
    return starts, ends


def min_of(a, b):
    return b if a is None else a if b is None else min(a, b)


def max_of(a, b):
    return b if a is None else a if b is None else max(a, b)
