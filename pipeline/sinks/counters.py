"""A finished pipeline's Beam counters by name: the one reader every sink and shell uses."""

from __future__ import annotations

from apache_beam.metrics.metric import MetricsFilter


def beam_counters(result, namespace: str = "coldtrace", names: tuple[str, ...] | None = None) -> dict[str, int] | None:
    """Counters of ``namespace`` summed over steps (committed, else attempted). With ``names``:
    exactly those, 0 when absent. None when the runner reports no metrics at all (DaskRunner)
    and no ``names`` were asked for; with ``names``, all zeros then."""
    totals: dict[str, int] = dict.fromkeys(names, 0) if names is not None else {}
    try:
        found = result.metrics().query(MetricsFilter().with_namespace(namespace))["counters"]
    except (NotImplementedError, AttributeError):
        return totals if names is not None else None
    for c in found:
        name = c.key.metric.name
        if names is None or name in totals:
            totals[name] = totals.get(name, 0) + int(c.committed if c.committed is not None else c.attempted or 0)
    return totals
