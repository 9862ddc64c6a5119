"""The fleet's functions: its configuration and each function's spec (runtime, log format,
memory, failure rates, traffic), drawn from (seed, index) alone so that fleets grow stably.
"""

from __future__ import annotations

import random

from pipeline.sources.simulate.chains import link_chains
from pipeline.sources.simulate.spec import (
    _BASE_MEMORY,
    _DRAWN_RUNTIMES,
    _INIT_MS,
    _MEDIAN_MS,
    _RUNTIME_VERSION,
    FleetConfig,
    FunctionSpec,
)

__all__ = ["FleetConfig", "FunctionSpec", "_INIT_MS", "_RUNTIME_VERSION", "fleet_functions", "_traffic_start"]


# name, runtime, log format, published version, role — the first twelve cover every behaviour
_ROLES = (
    ("api-gateway-handler", "nodejs20.x", "text", None, ""),
    ("orders-api", "python3.12", "json", "12", ""),
    ("payments", "java21", "text", "7", "snapstart"),
    ("notifications", "python3.12", "text", None, ""),
    ("inventory", "nodejs20.x", "json", None, "managed"),
    ("shipping", "provided.al2023", "text", None, ""),
    ("users-auth", "python3.12", "text", "3", "provisioned"),
    ("search", "java21", "json", "5", "snapstart burst"),
    ("image-resize", "python3.12", "json", None, "oom"),
    ("reports", "dotnet8", "text", None, ""),
    ("email-sender", "nodejs20.x", "json", "21", "provisioned"),
    ("audit-log", "ruby3.3", "text", None, ""),
)
_MORE_NAMES = ("pricing", "recommendations", "cart", "checkout", "invoices", "webhooks",
               "analytics", "thumbnailer", "geo-lookup", "sessions", "feature-flags", "scheduler")
def fleet_functions(config: FleetConfig) -> list[FunctionSpec]:
    """The functions of a fleet; each depends only on (seed, index), so fleets grow stably."""
    return link_chains([_function(config.seed, i) for i in range(config.functions)])


def _function(seed: int, i: int) -> FunctionSpec:
    rng = random.Random(f"coldtrace-fleet:{seed}:{i}")
    if i < len(_ROLES):
        name, runtime, fmt, version, role = _ROLES[i]
    else:
        name = _MORE_NAMES[(i - len(_ROLES)) % len(_MORE_NAMES)]
        lap = (i - len(_ROLES)) // len(_MORE_NAMES)
        name = f"{name}-{lap + 1}" if lap else name
        runtime = rng.choice(_DRAWN_RUNTIMES)
        fmt = rng.choice(("text", "json"))
        version = str(rng.randint(1, 40)) if rng.random() < 0.4 else None
        role = "snapstart" if runtime == "java21" and version and rng.random() < 0.5 else ""
    if "snapstart" in role or "provisioned" in role:
        version = version or str(rng.randint(1, 40))   # both need a published version
    memories = ((512, 1024, 1536, 2048, 3008) if runtime in ("java21", "dotnet8")  # the JVM and the CLR need room
                else (128, 256, 512, 1024, 1769, 3008))
    lo = rng.randint(0, 2)
    oom = 4.0 if "oom" in role else 1.0
    return FunctionSpec(
        index=i, name=name, runtime=runtime, log_format=fmt, version=version or "$LATEST",
        memory_mb=rng.choice(memories), architecture=rng.choice(("x86_64", "arm64")),
        timeout_s=rng.choice((3, 5, 6, 10, 15, 30)), traced=rng.random() < 0.4,
        # no Powertools for custom runtimes or Ruby (and no draw: the rest of the spec stays as it was)
        powertools=runtime not in ("provided.al2023", "ruby3.3") and rng.random() < 0.3,
        snapstart="snapstart" in role, managed="managed" in role,
        provisioned=(2 if i < 8 else 3) if "provisioned" in role else 0,
        extension="datadog-agent" if rng.random() < 0.25 else None,
        rate_mult=rng.uniform(0.3, 2.0), burst="burst" in role,
        median_ms=rng.uniform(*_MEDIAN_MS[runtime]), app_lines=(lo, lo + rng.randint(1, 5)),
        p_error=0.02 * rng.uniform(0.4, 1.6), p_timeout=0.005 * rng.uniform(0.4, 1.6),
        p_oom=0.003 * oom * rng.uniform(0.4, 1.6), p_crash=0.002 * rng.uniform(0.4, 1.6),
        p_throttle=rng.uniform(0.005, 0.03) if i in (0, 1) or rng.random() < 0.4 else 0.0,
        idle_ms=rng.randint(180_000, 480_000), base_memory_mb=rng.randint(*_BASE_MEMORY[runtime]),
    )



def _traffic_start(config: FleetConfig, spec: FunctionSpec) -> int:
    """Provisioned functions get traffic minutes after their environments were initialised."""
    if not spec.provisioned:
        return config.start_ms
    return config.start_ms + min(180_000, int(config.minutes * 60_000 * 0.4))
