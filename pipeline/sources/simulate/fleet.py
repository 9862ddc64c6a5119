"""The fleet's functions: its configuration and each function's spec (runtime, log format,
memory, failure rates, traffic), drawn from (seed, index) alone so that fleets grow stably.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pipeline.sources.incidents import Incident
from pipeline.sources.simulate.chains import link_chains
from pipeline.sources.simulate.changes import DEFAULT_CHANGES, Change


@dataclass(frozen=True, slots=True)
class FleetConfig:
    seed: int = 7
    functions: int = 12
    minutes: int = 10
    start_ms: int = 1714557600000          # 2024-05-01T10:00:00Z
    invocations_per_minute: int = 60        # mean per root function, times 0.3..2 per function
    files: int = 4                          # payload files to shard into (parallelism for readers)
    duplicate_payload_rate: float = 0.002   # CloudWatch sometimes delivers a payload twice
    control_messages: int = 2
    include_invocations: bool = True        # per-invocation truth (turn off for huge fleets)
    account: str = "123456789012"
    region: str = "eu-west-1"
    incidents: tuple[Incident, ...] = ()    # injected incidents (pipeline/sources/incidents.py)
    changes: tuple[Change, ...] = DEFAULT_CHANGES   # mid-run changes (simulate/changes.py); () for a steady fleet


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One simulated function: its configuration and the behaviour the truth is made of."""
    index: int
    name: str
    runtime: str
    log_format: str                 # "text" or "json"
    version: str                    # "$LATEST" or a published version number
    memory_mb: int
    architecture: str
    timeout_s: int
    traced: bool
    powertools: bool
    snapstart: bool
    provisioned: int                # provisioned environments (0: none)
    extension: str | None
    rate_mult: float                # times invocations_per_minute (root functions only)
    burst: bool                     # 4x traffic during 30-40 % of the window
    median_ms: float
    app_lines: tuple[int, int]
    p_error: float
    p_timeout: float
    p_oom: float
    p_crash: float
    p_throttle: float
    idle_ms: int
    base_memory_mb: int
    children: tuple[tuple[int, str, float], ...] = ()   # (function index, "sync" | "sqs", probability)
    parent: int | None = None


# name, runtime, log format, published version, role — the first twelve cover every behaviour
_ROLES = (
    ("api-gateway-handler", "nodejs20.x", "text", None, ""),
    ("orders-api", "python3.12", "json", "12", ""),
    ("payments", "java21", "text", "7", "snapstart"),
    ("notifications", "python3.12", "text", None, ""),
    ("inventory", "nodejs20.x", "json", None, ""),
    ("shipping", "provided.al2023", "text", None, ""),
    ("users-auth", "python3.12", "text", "3", "provisioned"),
    ("search", "java21", "json", "5", "snapstart burst"),
    ("image-resize", "python3.12", "json", None, "oom"),
    ("reports", "java21", "text", None, ""),
    ("email-sender", "nodejs20.x", "json", "21", "provisioned"),
    ("audit-log", "provided.al2023", "text", None, ""),
)
_MORE_NAMES = ("pricing", "recommendations", "cart", "checkout", "invoices", "webhooks",
               "analytics", "thumbnailer", "geo-lookup", "sessions", "feature-flags", "scheduler")
_RUNTIME_VERSION = {"python3.12": "python:3.12.v38", "nodejs20.x": "nodejs:20.v33",
                    "java21": "java:21.v27", "provided.al2023": "provided:al2023.v62"}
_INIT_MS = {"python3.12": (150, 600), "nodejs20.x": (120, 400), "java21": (800, 3000),
            "provided.al2023": (40, 180)}
_MEDIAN_MS = {"python3.12": (30, 250), "nodejs20.x": (15, 150), "java21": (40, 300),
              "provided.al2023": (4, 40)}
_BASE_MEMORY = {"python3.12": (45, 90), "nodejs20.x": (60, 100), "java21": (110, 220),
                "provided.al2023": (20, 45)}


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
        runtime = rng.choice(tuple(_RUNTIME_VERSION))
        fmt = rng.choice(("text", "json"))
        version = str(rng.randint(1, 40)) if rng.random() < 0.4 else None
        role = "snapstart" if runtime == "java21" and version and rng.random() < 0.5 else ""
    if "snapstart" in role or "provisioned" in role:
        version = version or str(rng.randint(1, 40))   # both need a published version
    memories = (512, 1024, 1536, 2048, 3008) if runtime == "java21" else (128, 256, 512, 1024, 1769, 3008)
    lo = rng.randint(0, 2)
    oom = 4.0 if "oom" in role else 1.0
    return FunctionSpec(
        index=i, name=name, runtime=runtime, log_format=fmt, version=version or "$LATEST",
        memory_mb=rng.choice(memories), architecture=rng.choice(("x86_64", "arm64")),
        timeout_s=rng.choice((3, 5, 6, 10, 15, 30)), traced=rng.random() < 0.4,
        powertools=runtime != "provided.al2023" and rng.random() < 0.3, snapstart="snapstart" in role,
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
