"""Architecture advice: an x86_64 function would cost about 20 % less per GB-second on arm64."""

from __future__ import annotations

from pipeline.advise.aggregate import FunctionAgg
from pipeline.advise.finding import Finding, monthly_factor, usd
from pipeline.advise.thresholds import MIN_MONTHLY_SAVINGS_USD
from pipeline.cost import PRICE_PER_GB_S

CAVEAT = ("native dependencies (compiled wheels, binaries, layers, extensions) need arm64 builds; "
          "re-measure duration after the move, most code runs as fast or faster on Graviton")


def architecture(name: str, fn: FunctionAgg) -> list[Finding]:
    if fn.architecture != "x86_64" or not fn.memories:
        return []
    gb_s = sum(s.billed_ms_sum / 1000.0 * m / 1024.0 for m, s in fn.memories.items())
    month = gb_s * monthly_factor(fn)
    x86, arm = month * PRICE_PER_GB_S["x86_64"], month * PRICE_PER_GB_S["arm64"]
    saving = x86 - arm
    if saving < MIN_MONTHLY_SAVINGS_USD:
        return []
    return [Finding(
        name, "architecture", "x86_64", "arm64", round(saving, 2),
        f"{fn.overall.n:,} invocations billed {gb_s:,.1f} GB-s on x86_64; at the observed rate that is "
        f"{month:,.0f} GB-s a month, {usd(x86)} on x86_64 and {usd(arm)} on arm64",
        caveat=CAVEAT, details={"gb_s": round(gb_s, 3), "gb_s_per_month": round(month, 1)})]
