"""The ground truth: per-function counts, every invocation (unless turned off for huge fleets),
the traces, and the incidents' expected figures and alarms; what a correct pipeline must find.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.sources.simulate.spec import FunctionSpec


def _stats(spec: FunctionSpec) -> dict:
    return {"runtime": spec.runtime, "memory_mb": spec.memory_mb, "architecture": spec.architecture,
            "log_format": spec.log_format, "timeout_s": spec.timeout_s, "version": spec.version,
            "invocations": 0, "cold_starts": 0, "provisioned_inits": 0, "snapstart_restores": 0,
            "errors": 0, "timeouts": 0, "out_of_memory": 0, "crashes": 0, "throttle_lines": 0,
            "instances": 0}


_OUTCOME_STAT = {"error": "errors", "timeout": "timeouts", "out_of_memory": "out_of_memory",
                 "crash": "crashes"}


class _Truth:
    """Counts invocations into the truth and assembles it (a mixin of _Fleet: uses its config,
    stats, invocations, traces, counts and incidents)."""

    def _record(self, spec: FunctionSpec, inv: dict) -> None:
        """Count the invocation into the truth: function stats, invocations, traces."""
        stats = self.stats[spec.name]
        stats["invocations"] += 1
        stats["cold_starts"] += inv["cold_start_kind"] in ("on-demand", "snapstart")
        key = _OUTCOME_STAT.get(inv["outcome"])
        if key:
            stats[key] += 1
        if self.c.include_invocations:
            self.invocations.append(inv)
        correlation = inv["correlation_id"]
        if correlation:
            trace = self.traces.setdefault(correlation, {"correlation_id": correlation,
                                                         "xray_trace_ids": [], "members": []})
            if inv["xray_trace_id"] not in trace["xray_trace_ids"]:
                trace["xray_trace_ids"].append(inv["xray_trace_id"])
            trace["members"].append({"function": spec.name, "request_id": inv["request_id"],
                                     "parent_request_id": inv["parent_request_id"]})

    def truth(self) -> dict:
        """The ground truth; complete once `payloads()` is exhausted."""
        config = asdict(self.c)
        config["changes"] = list(config["changes"])       # as JSON reads it back
        if not self.c.incidents:
            del config["incidents"]                       # the steady fleet's truth is unchanged
        out = {"config": config, "events": self.events, "payloads": self.payload_count,
               "control_messages": self.c.control_messages, "duplicate_payloads": self.duplicates,
               "functions": self.stats}
        if self.c.include_invocations:
            out["invocations"] = self.invocations
        out["traces"] = list(self.traces.values())
        if self.incidents:
            out.update(self.incidents.truth())
        return out
