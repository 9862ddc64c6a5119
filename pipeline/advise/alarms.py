"""Regressions as alarms: a ``version-regression`` or ``runtime-update`` finding becomes an Alarm
(``coldtrace-alarms``), so it reaches SNS and the webhook like any other alarm.

Off by default in a batch backfill (last month's deploys would page someone today), on in
streaming; ``ALARMS_BY_DEFAULT`` in ``thresholds`` holds the defaults, ``advice_alarms_enabled``
is the one decision.

A finding is raised once: ``raise_once`` remembers its ``finding_key`` (the kind, the function
and both versions — not its figures, which grow as data arrives), so a streaming job that
re-evaluates the aggregate every round or firing never notifies the same regression twice. The
alarm's document id hashes the time of the change, so a re-run indexes the same document.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.advise.aggregate import AdviceAggregate
from pipeline.advise.finding import REGRESSION_KINDS, Finding
from pipeline.advise.regressions import runtime_update, version_regression
from pipeline.advise.thresholds import ALARMS_BY_DEFAULT
from pipeline.model import Alarm
from pipeline.report.fields import iso_to_ms


def advice_alarms_enabled(mode: str, flag: bool | None = None) -> bool:
    """``flag`` (``--advice-alarms`` / ``--no-advice-alarms``) when given, else the mode's default."""
    if flag is not None:
        return flag
    if mode not in ALARMS_BY_DEFAULT:
        raise ValueError(f"unknown mode {mode!r}: one of {', '.join(ALARMS_BY_DEFAULT)}")
    return ALARMS_BY_DEFAULT[mode]


def finding_alarm(f: Finding) -> Alarm | None:
    """The ALARM transition a regression finding raises (None for other kinds). Its time is the
    change's, so a replay gives the same alarm id and never notifies twice."""
    if f.kind not in REGRESSION_KINDS:
        return None
    changes = f.details.get("changes") or [{}]
    worst = max(changes, key=lambda c: c.get("z", 0.0))
    return Alarm(rule=f.kind, function_name=f.function, state="ALARM", previous_state="OK",
                 time_ms=iso_to_ms(f.details["at"]), value=worst.get("after"), threshold=worst.get("before"),
                 reason=f.evidence,
                 # failing requests page someone; a slower or fatter function can wait for the morning
                 severity="critical" if any(c.get("metric") == "error_rate" for c in changes) else "warning")


def regression_alarms(findings: Iterable[Finding]) -> list[Alarm]:
    return [a for a in map(finding_alarm, findings) if a is not None]


def regression_findings(aggregate: AdviceAggregate) -> list[Finding]:
    """Only the rules an alarm can come from (the others read the busy timeline: not every round)."""
    out: list[Finding] = []
    for name, fn in sorted(aggregate.functions.items()):
        out += version_regression(name, fn) + runtime_update(name, fn)
    return out


def finding_key(f: Finding) -> str:
    """What one regression is, whatever its figures: kind, function, (function version,) both versions."""
    d = f.details
    return "|".join(str(part) for part in (f.kind, f.function, d.get("version", ""), d["from"], d["to"]))


def raise_once(findings: Iterable[Finding], raised: Iterable[str] = ()) -> tuple[list[Alarm], list[str]]:
    """The alarms of the regression findings not raised before, and every key raised so far (sorted)."""
    seen = set(raised)
    out = []
    for f in findings:
        alarm = finding_alarm(f)
        if alarm is not None and (key := finding_key(f)) not in seen:
            seen.add(key)
            out.append(alarm)
    return out, sorted(seen)
