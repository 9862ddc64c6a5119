"""Trace keys of an invocation and the union of keys that makes a cut trace whole again.

A trace key is an X-Ray trace id (``x:<id>``) or a correlation id (``c:<id>``). X-Ray cuts a
request at every queue or bus (the consumer starts a new X-Ray trace) while a correlation id
logged by the application survives the hop; an invocation that carries both joins its X-Ray
trace to the correlation id, so every invocation reachable through shared keys is one trace.
That is a connected-components problem, solved here with a union-find over keys.
"""

from __future__ import annotations

from typing import Iterable

from pipeline.model import Invocation

XRAY = "x:"
CORRELATION = "c:"


def trace_keys(inv: Invocation) -> tuple[str, ...]:
    """The invocation's trace keys, X-Ray id first; empty for an untraced invocation."""
    keys: list[str] = []
    if inv.xray_trace_id:
        keys.append(XRAY + inv.xray_trace_id)
    for corr in inv.correlation_ids:
        if corr:
            keys.append(CORRELATION + corr)
    return tuple(keys)


def segment_key(inv: Invocation) -> str | None:
    """Where an invocation waits for its X-Ray siblings: its X-Ray id, else its correlation id."""
    keys = trace_keys(inv)
    return keys[0] if keys else None


class KeyUnion:
    """Union-find over trace keys (path halving, union by size); ``find`` names a component."""

    __slots__ = ("parent", "size")

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.size: dict[str, int] = {}

    def find(self, key: str) -> str:
        parent = self.parent
        if key not in parent:
            parent[key] = key
            self.size[key] = 1
            return key
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def union(self, keys: Iterable[str]) -> str:
        """Join all ``keys`` into one component; returns its representative."""
        it = iter(keys)
        root = self.find(next(it))
        for key in it:
            other = self.find(key)
            if other == root:
                continue
            if self.size[other] > self.size[root]:
                root, other = other, root
            self.parent[other] = root
            self.size[root] += self.size.pop(other)
        return root

    def roots(self) -> dict[str, str]:
        """Every key → the smallest key of its component (deterministic whatever the union order)."""
        smallest: dict[str, str] = {}
        for key in self.parent:
            root = self.find(key)
            if root not in smallest or key < smallest[root]:
                smallest[root] = key
        return {key: smallest[self.find(key)] for key in self.parent}


def group_by_keys(invocations: Iterable[Invocation]) -> list[list[Invocation]]:
    """Invocations joined by shared trace keys, one list per trace; untraced ones are left out."""
    union = KeyUnion()
    keyed: list[tuple[str, Invocation]] = []
    for inv in invocations:
        keys = trace_keys(inv)
        if keys:
            union.union(keys)
            keyed.append((keys[0], inv))
    groups: dict[str, list[Invocation]] = {}
    for key, inv in keyed:
        groups.setdefault(union.find(key), []).append(inv)
    return list(groups.values())
