"""The few lines ``coldtrace run`` prints after its summary: the most urgent findings."""

from __future__ import annotations

from pipeline.advise import advise
from pipeline.advise.files import load_aggregate
from pipeline.advise.finding import Finding, usd


def finding_line(f: Finding) -> str:
    """One line: function, kind, current → recommended, the saving when there is one."""
    unit = " MB" if f.kind == "memory" else ""
    saving = ""
    if f.monthly_savings_usd is not None:
        saving = (f", saves {usd(f.monthly_savings_usd)}/month" if f.monthly_savings_usd >= 0
                  else f", costs {usd(-f.monthly_savings_usd)}/month")
    return f"{f.function}: {f.kind} {f.current}{unit} → {f.recommended}{unit}{saving}"


def top_findings_lines(out_dir: str, n: int = 5) -> list[str]:
    """The ``n`` most urgent findings of the run in ``out_dir`` as printable lines (none: empty)."""
    try:
        found = advise(load_aggregate(out_dir).aggregate)
    except FileNotFoundError:
        return []
    if not found:
        return []
    lines = [f"advice ({len(found)} finding(s); all of them: coldtrace advise --from {out_dir}):"]
    lines += [f"  {finding_line(f)}" for f in found[:n]]
    return lines


def print_top_findings(out_dir: str, n: int = 5) -> None:
    """``coldtrace run``'s hook after its summary: the top findings, or nothing at all."""
    for line in top_findings_lines(out_dir, n):
        print(line)
