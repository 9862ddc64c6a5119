"""What a simulated fleet and each of its functions are: the configuration, the function spec and
the per-runtime tables. A leaf module: the other simulate modules import it, it imports none of
them (so they import each other in one direction only).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.sources.incidents import Incident


# Mid-run changes of the default fleet (applied by simulate/changes.py).
@dataclass(frozen=True, slots=True)
class Change:
    function: str
    kind: str                         # "memory-resize" | "deploy" | "runtime-update"
    at: float                         # fraction of the window
    memory_mb: int | None = None
    version: str | None = None
    runtime_version: str | None = None
    duration_factor: float = 1.0
    error_factor: float = 1.0


DEFAULT_CHANGES: tuple[Change, ...] = (
    # raised from 256 to 1024 MB by someone who hoped it would be faster: it is, by 5 %; a function
    # that never runs out of memory (so its measured sizes are all candidates)
    Change("audit-log", "memory-resize", 0.4, memory_mb=1024, duration_factor=0.95),
    # version 5 → 6 (a new SnapStart snapshot): a slower query (p95 x4) and a new bug (errors x8)
    Change("search", "deploy", 0.5, version="6", duration_factor=4.0, error_factor=8.0),
    # nodejs:20.v33 → v34 under $LATEST, and the code trips on it
    Change("inventory", "runtime-update", 0.6, runtime_version="nodejs:20.v34", error_factor=10.0),
)


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
    managed: bool = False           # Lambda Managed Instances: its platform.report has durationMs only


_RUNTIME_VERSION = {"python3.12": "python:3.12.v38", "nodejs20.x": "nodejs:20.v33",
                    "java21": "java:21.v27", "provided.al2023": "provided:al2023.v62",
                    "dotnet8": "dotnet:8.v31", "ruby3.3": "ruby:3.3.v19"}
# the runtimes functions past the first twelve draw from (the fleet grows as it always did)
_DRAWN_RUNTIMES = ("python3.12", "nodejs20.x", "java21", "provided.al2023")
_INIT_MS = {"python3.12": (150, 600), "nodejs20.x": (120, 400), "java21": (800, 3000),
            "provided.al2023": (40, 180), "dotnet8": (300, 1200), "ruby3.3": (150, 500)}
_MEDIAN_MS = {"python3.12": (30, 250), "nodejs20.x": (15, 150), "java21": (40, 300),
              "provided.al2023": (4, 40), "dotnet8": (20, 200), "ruby3.3": (30, 250)}
_BASE_MEMORY = {"python3.12": (45, 90), "nodejs20.x": (60, 100), "java21": (110, 220),
                "provided.al2023": (20, 45), "dotnet8": (70, 140), "ruby3.3": (50, 95)}
