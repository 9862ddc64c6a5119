"""The sentence a human reads in an alarm: what was seen, over what time, against what limit.

    orders-api: 7 of 120 invocations timed out in 5 min (5.8 % > 1 %)
    payments: p99 duration of completed invocations 2,850 ms in 1 min is 95 % of the 3 s timeout (> 90 %); 3 of the last 5 minutes breached
"""

from __future__ import annotations

from pipeline.rules.catalog import STATISTICS, Datapoint, Stat
from pipeline.rules.config import Rule

_NEGATED = {">": "≤", ">=": "<", "<": "≥", "<=": ">"}


def span(ms: int) -> str:
    """60000 → '1 min', 300000 → '5 min', 3600000 → '1 h'."""
    if ms % 3_600_000 == 0:
        return f"{ms // 3_600_000} h"
    if ms % 60_000 == 0:
        return f"{ms // 60_000} min"
    return f"{ms / 1000:g} s"


def duration(ms: float) -> str:
    if ms < 1_000:
        return f"{ms:,.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.3g} s"
    if ms < 3_600_000:
        return f"{ms / 60_000:.3g} min"
    return f"{ms / 3_600_000:.3g} h"


def percent(x: float) -> str:
    return f"{x * 100:.1f} %" if x < 0.1 else f"{x * 100:.0f} %"


def amount(stat: Stat, value: float) -> str:
    if stat.unit == "ms":
        return duration(value)
    if stat.unit == "fraction":
        return percent(value)
    if stat.unit == "usd":
        return f"${value:,.4f}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _limit_name(rule: Rule, limit: float) -> str:
    if rule.relative_to == "timeout":
        return f"the {duration(limit)} timeout"
    return f"the concurrency limit of {limit:,.0f}"


def _seen(stat: Stat, dp: Datapoint, when: str) -> str:
    assert dp.value is not None
    if stat.kind == "ratio":
        return f"{dp.numerator:,.0f} of {dp.denominator:,.0f} invocations {stat.words} in {when}"
    if stat.kind == "sum":
        return f"{amount(stat, dp.value)} {stat.words} in {when}"
    return f"{stat.words} {amount(stat, dp.value)} in {when}"


def reason(rule: Rule, function: str, state: str, dp: Datapoint, threshold: float, limit: float | None,
           breaches: int) -> str:
    stat = STATISTICS[rule.metric]
    when = span(dp.end_ms - dp.start_ms)
    n, unit = rule.evaluation_periods, ("minutes" if rule.period_s == 60 else "periods")
    if state == "INSUFFICIENT_DATA":
        return f"{function}: no {stat.words} data in the last {n} {unit} ({rule.name})"
    op = rule.op if state == "ALARM" else _NEGATED[rule.op]
    if dp.value is None:
        treated = "breaching" if state == "ALARM" else "not breaching"
        text = f"{function}: no data in {when}, treated as {treated} ({rule.name}: {stat.words})"
    elif limit is not None:
        text = (f"{function}: {_seen(stat, dp, when)} is {percent(dp.value / limit)} of {_limit_name(rule, limit)} "
                f"({op} {percent(threshold / limit)})")
    else:
        shown, limit_text = amount(stat, dp.value), amount(stat, threshold)
        if shown == limit_text and stat.unit == "fraction":  # 2.04 % vs 2 %: show the difference
            shown, limit_text = f"{dp.value * 100:.2f} %", f"{threshold * 100:.2f} %"
        text = f"{function}: {_seen(stat, dp, when)} ({shown} {op} {limit_text})"
    if state == "ALARM" and rule.datapoints_to_alarm > 1:
        text += f"; {breaches} of the last {n} {unit} breached"
    elif state == "OK":
        if dp.value is not None:
            text = text.replace(f"{function}: ", f"{function}: back to normal, ", 1)
        calm = n - rule.datapoints_to_alarm + 1
        if calm > 1:
            text += f"; calm for {calm} {unit}"
    return text
