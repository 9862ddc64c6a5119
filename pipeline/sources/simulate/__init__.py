"""The synthetic fleet: CloudWatch Logs subscription payloads of N Lambda functions, plus the truth.

Deterministic from a seed, pure Python (stdlib + orjson, never Beam), so the parser, the invocation
fold and the detectors can be held against a fleet whose every fact is known. The model is the one
Lambda really has: a function owns a pool of execution environments (one log stream each) that run
invocations one at a time; a new one is created (a cold start) when all are busy, idle ones retire,
and an out-of-memory kill or a runtime crash retires the one it happened in.

The parts: `fleet` (configuration, function specs), `lines` (the text and JSON log lines),
`environments`, `invocations`, `chains` (calls between functions), `payloads` (batching, encoding,
duplicates), `truth`, `engine` (the run in event time; `simulate`, `write_fleet`), `sizing`
(`config_for_events`), `cli` (`python -m pipeline.sources.simulate`). Incidents live in
`pipeline.sources.incidents`.
"""

from pipeline.sources.incidents import METRICS_FILE, Incident, IncidentBook
from pipeline.sources.simulate.cli import main
from pipeline.sources.simulate.engine import simulate, write_fleet
from pipeline.sources.simulate.fleet import FleetConfig, FunctionSpec, fleet_functions
from pipeline.sources.simulate.lines import iso, text_report
from pipeline.sources.simulate.payloads import (
    CONTROL_MESSAGE,
    FLUSH_AGE_MS,
    GZIP_LEVEL,
    MAX_PAYLOAD_BYTES,
    SHIP_TICK_MS,
    SUBSCRIPTION_FILTER,
    encode_payload,
)
from pipeline.sources.simulate.sizing import config_for_events

__all__ = [
    "SHIP_TICK_MS", "CONTROL_MESSAGE", "FLUSH_AGE_MS", "GZIP_LEVEL", "MAX_PAYLOAD_BYTES", "METRICS_FILE",
    "SUBSCRIPTION_FILTER", "FleetConfig", "FunctionSpec", "Incident", "IncidentBook", "config_for_events",
    "encode_payload", "fleet_functions", "iso", "main", "simulate", "text_report", "write_fleet",
]
