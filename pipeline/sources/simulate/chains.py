"""Call chains: which functions call which, and what a call carries (correlation id, X-Ray trace,
the caller's request id); the truth groups the calls of one correlation id into a trace.

A synchronous call keeps the caller's X-Ray trace and names the caller (so a throttled call can be
logged on its side); an SQS hop starts a new X-Ray trace and keeps only the correlation id.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.sources.simulate.environments import _Instance
    from pipeline.sources.simulate.spec import FunctionSpec

# parent, child, hop, probability: api-gateway-handler -> orders-api -(SQS)-> payments -> notifications
_CHAINS = ((0, 1, "sync", 0.7), (1, 2, "sqs", 0.6), (2, 3, "sync", 0.8), (4, 5, "sync", 0.5))


def link_chains(specs: list[FunctionSpec]) -> list[FunctionSpec]:
    """Wire the fleet's functions into its call chains; every function on a chain is traced."""
    for parent, child, hop, p in _CHAINS:
        if child < len(specs):
            specs[parent] = replace(specs[parent], children=specs[parent].children + ((child, hop, p),),
                                    traced=True, powertools=True)
            specs[child] = replace(specs[child], parent=parent, traced=True, powertools=True)
    return specs


class _Chains:
    """The fleet's calls down a chain (a mixin of _Fleet: schedules them with its `_push`)."""

    def _call_children(self, spec: FunctionSpec, inst: _Instance, rng: random.Random, fi: int, rid: str,
                       start: int, end: int, duration: float, correlation: str | None,
                       xray: str | None) -> None:
        """After a successful invocation, each child is called with its probability."""
        for child, hop, p in spec.children:
            if rng.random() < p:
                if hop == "sync":             # the caller is known: it logs a throttled call
                    self._push(start + rng.uniform(1.0, max(2.0, duration * 0.3)), child,
                               (correlation, xray, rid, inst, fi))
                else:                    # an SQS hop starts a new X-Ray trace, keeps the correlation id
                    self._push(end + rng.uniform(20.0, 800.0), child, (correlation, None, None))
