"""Sizing a fleet by the number of log events it should produce (`config_for_events`)."""

from __future__ import annotations

import math
from dataclasses import replace

from pipeline.sources.simulate.engine import _Fleet
from pipeline.sources.simulate.fleet import FleetConfig, _traffic_start, fleet_functions


def _expected_events(config: FleetConfig) -> tuple[float, float]:
    """Expected log events as (per unit of invocations_per_minute, fixed): sizes a fleet up front."""
    specs = fleet_functions(config)
    rate = [0.0] * len(specs)             # invocations over the window per unit of invocations_per_minute
    fixed = 0.0
    window = config.minutes * 60_000
    per_unit = 0.0
    for s in specs:
        if s.parent is None:
            active = (config.start_ms + window - _traffic_start(config, s)) / 60_000
            rate[s.index] = s.rate_mult * active * (1.3 if s.burst else 1.0)
        success = 1 - s.p_error - s.p_timeout - s.p_oom - s.p_crash
        for child, _, p in s.children:
            rate[child] += rate[s.index] * p * success
        lines = 3 + sum(s.app_lines) / 2 + s.powertools + s.p_throttle
        lines += s.p_error * (1.25 if s.runtime == "python3.12" and s.log_format == "text" else 1.0)
        if s.log_format == "text":
            lines += s.p_timeout + s.p_oom + s.p_crash
        per_unit += rate[s.index] * lines
        fixed += 3 * (2 + bool(s.extension)) + s.provisioned * 2
    return per_unit, fixed


def _count_events(config: FleetConfig) -> int:
    fleet = _Fleet(replace(config, include_invocations=False))
    for _ in fleet._shipments():
        pass
    return fleet.events


def config_for_events(n_events: int, seed: int = 7, files: int = 8) -> FleetConfig:
    """A fleet sized to produce ~n_events log events (within ±15 %), 10 minutes when that fits.

    Large fleets follow the expected-value model; small ones are noisy, so the few candidates are
    simulated (cheap at that size) and the closest is kept.
    """
    functions = min(64, max(6, round(6 + math.sqrt(n_events) / 50)))
    if n_events < 1_000:                 # tiny fleets: fewer functions, or their cold starts alone overshoot
        functions = max(1, min(6, n_events // 150))
    base = FleetConfig(seed=seed, functions=functions, files=files, include_invocations=n_events <= 2_000_000)
    candidates: list[tuple[float, int, FleetConfig]] = []
    for minutes in range(1, 61):
        per_unit, fixed = _expected_events(replace(base, minutes=minutes))
        ipm = max(1, round((n_events - fixed) / per_unit))
        error = abs(ipm * per_unit + fixed - n_events) / max(n_events, 1)
        candidates.append((max(error, 0.02), abs(minutes - 10),
                           replace(base, minutes=minutes, invocations_per_minute=ipm)))
    candidates.sort(key=lambda c: c[:2])
    if n_events > 50_000:
        return candidates[0][2]
    best: tuple[float, FleetConfig] | None = None
    for _, _, config in candidates[:8 if n_events > 5_000 else 24]:
        error = abs(_count_events(config) - n_events) / max(n_events, 1)
        if error <= 0.05:
            return config
        if best is None or error < best[0]:
            best = (error, config)
    return best[1]
