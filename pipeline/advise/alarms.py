"""Regressions as alarms: a ``version-regression`` or ``runtime-update`` finding becomes an Alarm
(``coldtrace-alarms``), so it reaches SNS and the webhook like any other alarm.

Off by default in a batch backfill (last month's deploys would page someone today), on in
streaming; ``ALARMS_BY_DEFAULT`` in ``thresholds`` holds the defaults, ``advice_alarms_enabled``
is the one decision.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.advise.finding import REGRESSION_KINDS, Finding
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
