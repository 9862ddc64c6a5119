"""A Beam CombineFn over one of the pure mergeable aggregates (``WindowFigures``, the report's and
the advice's aggregates): each has ``add`` and ``merge``, both in place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apache_beam as beam


class MergeableCombineFn(beam.CombineFn):
    """``make()`` a fresh aggregate, ``add`` each input to it, ``merge`` the partials. With
    ``parts=True`` the inputs are themselves partial aggregates (a combine's outputs) and are merged."""

    def __init__(self, make: Callable[[], Any], parts: bool = False) -> None:
        self.make = make
        self.parts = parts

    def create_accumulator(self):
        return self.make()

    def add_input(self, acc, item):
        if self.parts:
            acc.merge(item)
        else:
            acc.add(item)
        return acc

    def merge_accumulators(self, accumulators):
        it = iter(accumulators)
        out = next(it, None)
        if out is None:
            return self.make()
        for acc in it:
            out.merge(acc)
        return out

    def extract_output(self, acc):
        return acc
