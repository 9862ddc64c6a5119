"""Connected components of trace keys by rounds of label propagation, for a runner that groups
by key (Beam's GroupByKey) and keeps nothing else: each step below is a pure function of one
key's group, so no step ever holds more than one key's neighbours.

The graph: a node per trace key, an edge between the smallest key of an invocation that
carries several (an X-Ray id and correlation ids) and each of its other keys. A node's label
starts as the smallest of itself and its neighbours and, each round, takes the smallest label
its neighbours sent. After ``ROUNDS`` rounds every component of diameter up to ``ROUNDS + 1``
has its smallest key as every node's label (a trace's keys form stars around a correlation id:
diameter 2, or 4 when a second correlation id joins a hop). What has not settled is finished
exactly by a union-find over the residual label pairs — empty unless some component is a long
chain — so the result always equals ``KeyUnion.roots`` over all keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pipeline.stitch.keys import KeyUnion

ROUNDS = 2

State = tuple[str, tuple[str, ...]]  # (label, neighbours)


def edges(keys: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(node, neighbour) both ways, for the star from the smallest of an invocation's keys."""
    distinct = sorted(set(keys))
    hub = distinct[0] if distinct else None
    for key in distinct[1:]:
        yield hub, key
        yield key, hub


def initial_state(node: str, neighbours: Iterable[str]) -> State:
    nbrs = tuple(sorted(set(neighbours)))
    return min((node, *nbrs)), nbrs


def messages(node: str, state: State) -> Iterator[tuple[str, tuple]]:
    """A node's state to itself and its label to each neighbour."""
    label, nbrs = state
    yield node, ("state", state)
    for n in nbrs:
        yield n, ("label", label)


def next_state(received: Iterable[tuple]) -> State:
    """The node's state with the smallest label it was sent."""
    state, labels = None, []
    for kind, value in received:
        if kind == "state":
            state = value
        else:
            labels.append(value)
    label, nbrs = state
    return min((label, *labels)), nbrs


def residual_pairs(received: Iterable[tuple]) -> Iterator[tuple[str, str]]:
    """(own label, neighbour's label) where they still differ after the last round."""
    state, labels = None, set()
    for kind, value in received:
        if kind == "state":
            state = value
        else:
            labels.add(value)
    for other in sorted(labels):
        if other != state[0]:
            yield state[0], other


def residual_names(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """One union-find over the labels that have not settled: label → the component's smallest key."""
    union = KeyUnion()
    for a, b in pairs:
        union.union((a, b))
    return {key: root for key, root in union.roots().items() if key != root}


def final_label(received: Iterable[tuple], names: dict[str, str]) -> str:
    """The component's name of a node, from its last state (and the residual renames)."""
    for kind, value in received:
        if kind == "state":
            return names.get(value[0], value[0])
    raise ValueError("a node's group has no state")
