"""Label propagation over grouped keys names every component as one union-find over all keys
would (``KeyUnion.roots``) — for trace-shaped graphs, which settle within the rounds, and for
long chains, which the residual union-find finishes."""

from __future__ import annotations

import random
from collections import defaultdict

from pipeline.stitch import components
from pipeline.stitch.keys import KeyUnion


def _group(pairs):
    out = defaultdict(list)
    for k, v in pairs:
        out[k].append(v)
    return out


def _names(key_sets: list[tuple[str, ...]]) -> tuple[dict[str, str], int]:
    """What the Beam shell computes, with a dict standing in for each GroupByKey."""
    state = {node: components.initial_state(node, nbrs)
             for node, nbrs in _group(e for keys in key_sets for e in components.edges(keys)).items()}
    for _ in range(components.ROUNDS):
        got = _group(m for node, s in state.items() for m in components.messages(node, s))
        state = {node: components.next_state(received) for node, received in got.items()}
    last = _group(m for node, s in state.items() for m in components.messages(node, s))
    pairs = [p for received in last.values() for p in components.residual_pairs(received)]
    renamed = components.residual_names(pairs)
    return {node: components.final_label(received, renamed) for node, received in last.items()}, len(pairs)


def _expected(key_sets):
    union = KeyUnion()
    for keys in key_sets:
        union.union(keys)
    return {k: v for k, v in union.roots().items() if any(k in ks for ks in key_sets if len(set(ks)) > 1)}


def test_trace_shaped_graphs_settle_within_the_rounds():
    rnd = random.Random(2)
    key_sets = []
    for t in range(300):  # a trace: X-Ray segments joined by one correlation id, some by a second
        corr = [f"c:{t}"] + ([f"c:{t}b"] if rnd.random() < 0.3 else [])
        for seg in range(rnd.randrange(1, 4)):
            key_sets.append((f"x:{t}-{seg}", corr[min(seg, len(corr) - 1)]))
            if len(corr) > 1 and seg == 1:
                key_sets.append((f"x:{t}-{seg}", *corr))
    names, residue = _names(key_sets)
    assert names == _expected(key_sets)
    assert residue == 0  # nothing for the single place to finish


def test_long_chains_and_random_graphs_are_finished_by_the_residue():
    chain = [(f"k{i:03d}", f"k{i + 1:03d}") for i in range(60)]
    rnd = random.Random(9)
    chain = rnd.sample(chain, len(chain))
    names, residue = _names(chain)
    assert residue > 0 and set(names.values()) == {"k000"} and names == _expected(chain)
    graph = [tuple(f"n{rnd.randrange(400)}" for _ in range(rnd.randrange(2, 4))) for _ in range(300)]
    assert _names(graph)[0] == _expected(graph)
