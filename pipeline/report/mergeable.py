"""Small mergeable parts of the report's aggregate: an exact float sum, int/float arrays as JSON
text (little-endian base64: compact and the same on every machine), and None-tolerant min/max."""

from __future__ import annotations

import base64
import sys
from array import array


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


def min_of(a, b):
    return b if a is None else a if b is None else min(a, b)


def max_of(a, b):
    return b if a is None else a if b is None else max(a, b)
