"""Lambda's price: GB-seconds by architecture plus a per-request charge (us-east-1 list prices).

Tiered discounts above 6 billion GB-s a month are ignored: estimates err on the high side.
"""

from __future__ import annotations

PRICE_PER_GB_S = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
PRICE_PER_REQUEST = 0.20 / 1_000_000


def invocation_cost(billed_duration_ms: float | None, memory_size_mb: int | None,
                    architecture: str = "x86_64") -> float | None:
    """Estimated USD for one invocation; None when duration or memory is unknown."""
    if billed_duration_ms is None or memory_size_mb is None:
        return None
    price = PRICE_PER_GB_S.get(architecture, PRICE_PER_GB_S["x86_64"])
    gb_s = (memory_size_mb / 1024.0) * (billed_duration_ms / 1000.0)
    return round(gb_s * price + PRICE_PER_REQUEST, 12)


def provisioned_cost_per_hour(memory_size_mb: int, instances: int = 1, architecture: str = "x86_64") -> float:
    """What keeping ``instances`` environments warm costs an hour (provisioned concurrency price)."""
    per_gb_s = 0.0000041667 if architecture == "x86_64" else 0.0000033334
    return instances * (memory_size_mb / 1024.0) * 3600 * per_gb_s
