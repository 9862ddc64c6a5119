"""Which lines to ship: include/exclude rules, START/END dropping and sampling.

Nothing that tells an invocation's story is ever dropped: platform lines (REPORT always;
START/END only when asked to drop them), errors, warnings, lines with an OOM or throttle
signature, and every line of a request that failed in this payload. Rules and sampling apply
to the remaining application lines only. Sampling is by request id (a hash, not a coin), so a
request's lines are kept or dropped together, consistently across payloads.

Scope: a decision sees one payload (one log stream's batch). A request whose error arrives in
a later payload keeps its lines from that payload on; the earlier ones followed the sampling.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from pipeline.model import LogEvent, ParsedLine
from pipeline.parse import parse_message

_ERROR_LEVELS = frozenset(("ERROR", "FATAL", "CRITICAL", "EMERGENCY", "ALERT"))
_PROTECTED_LEVELS = _ERROR_LEVELS | {"WARN", "WARNING"}
_FAILED_STATUS = frozenset(("error", "timeout", "failure"))


@dataclass
class Selection:
    kept: list[LogEvent]
    filtered: int = 0       # dropped by include/exclude or START/END rules
    sampled_out: int = 0    # dropped by sampling


@dataclass
class Rules:
    include: re.Pattern[str] | None = None
    exclude: re.Pattern[str] | None = None
    drop_start_end: bool = False
    sample_rate: float = 1.0

    @property
    def active(self) -> bool:
        return bool(self.include or self.exclude or self.drop_start_end or self.sample_rate < 1.0)


def _failed(p: ParsedLine) -> bool:
    if p.kind in ("timeout", "runtime_error"):
        return True
    if p.kind == "report" and p.platform is not None:
        return (p.platform.status or "").lower() in _FAILED_STATUS or p.platform.error_type is not None
    return p.level in _ERROR_LEVELS or p.error_type is not None


def _protected(p: ParsedLine) -> bool:
    return p.kind != "log" or p.level in _PROTECTED_LEVELS or bool(p.signals) or bool(p.error_type)


def sampled_in(key: str, rate: float) -> bool:
    """Deterministic: the same request id gets the same answer in every payload and retry."""
    if rate >= 1.0:
        return True
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) < rate * 4294967296.0


def select(events: list[LogEvent], rules: Rules) -> Selection:
    if not rules.active or not events:
        return Selection(list(events))
    parsed = [parse_message(e.message) for e in events]
    failed_requests = {p.request_id for p in parsed if p.request_id and _failed(p)}
    out = Selection([])
    for ev, p in zip(events, parsed):
        if p.kind in ("start", "end") and rules.drop_start_end and not p.xray_trace_id:
            out.filtered += 1
            continue
        if _protected(p) or (p.request_id is not None and p.request_id in failed_requests):
            out.kept.append(ev)
            continue
        if rules.include is not None and not rules.include.search(ev.message):
            out.filtered += 1
            continue
        if rules.exclude is not None and rules.exclude.search(ev.message):
            out.filtered += 1
            continue
        if not sampled_in(p.request_id or ev.id, rules.sample_rate):
            out.sampled_out += 1
            continue
        out.kept.append(ev)
    return out
