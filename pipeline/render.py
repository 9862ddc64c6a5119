"""Terminal rendering of the run summary (rich tables)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def summary_table(summary: dict[str, Any]) -> Table:
    t = Table(title="coldtrace — per function", header_style="bold", show_footer=False)
    for col, justify in (("function", "left"), ("invocations", "right"), ("cold starts", "right"),
                         ("cold %", "right"), ("p50 ms", "right"), ("p95 ms", "right"), ("p99 ms", "right"),
                         ("init p50", "right"), ("init p95", "right"), ("init p99", "right"),
                         ("errors", "right"), ("timeouts", "right"), ("OOMs", "right"),
                         ("crashes", "right"), ("cost $", "right")):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, f in summary["functions"].items():
        t.add_row(name, f"{f['invocations']:,}", f"{f['cold_starts']:,}", f"{100 * f['cold_start_rate']:.1f}",
                  _ms(f["duration_p50_ms"]), _ms(f["duration_p95_ms"]), _ms(f["duration_p99_ms"]),
                  _ms(f["init_p50_ms"]), _ms(f["init_p95_ms"]), _ms(f["init_p99_ms"]),
                  str(f["errors"]), str(f["timeouts"]), str(f["out_of_memory"]), str(f["crashes"]),
                  f"{f['cost_usd']:.4f}")
    return t


def slowest_traces_table(traces: dict[str, Any]) -> Table:
    t = Table(title="slowest traces", header_style="bold")
    for col, justify in (("trace id", "left"), ("ms", "right"), ("critical path", "left"), ("weakest link", "left")):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for tr in traces["slowest"]:
        t.add_row(tr["trace_id"], f"{tr['duration_ms']:,}", " → ".join(tr["critical_path"]),
                  tr["weakest_link"] or "-")
    return t


def print_traces(traces: dict[str, Any], console: Console) -> None:
    if not traces["traces"]:
        return
    weakest = ", ".join(f"{fn} {n:,}" for fn, n in list(traces["weakest_links"].items())[:3])
    console.print(f"[bold]{traces['traces']:,}[/] traces ({traces['multi_function_traces']:,} across functions), "
                  f"{traces['mean_functions_per_trace']:.2f} functions per trace, "
                  f"{traces['cold_start_on_critical_path']:,} with a cold start on the critical path"
                  + (f" (weakest links: {weakest})" if weakest else ""))
    console.print(slowest_traces_table(traces))


_STATE_STYLE = {"ALARM": "bold red", "OK": "green", "INSUFFICIENT_DATA": "dim"}


def alarms_table(alarms: dict[str, Any]) -> Table:
    t = Table(title="alarms raised", header_style="bold")
    for col in ("time", "function", "rule", "state", "reason"):
        t.add_column(col, overflow="fold" if col == "reason" else "ellipsis")
    for a in alarms["transitions"]:
        style = _STATE_STYLE.get(a["state"], "")
        t.add_row((a["time"] or "")[11:19], a["function"], a["rule"], f"[{style}]{a['state']}[/]", a["reason"])
    return t


def print_alarms(alarms: dict[str, Any], console: Console) -> None:
    if not alarms["transitions"]:
        console.print("no alarms raised")
        return
    console.print(alarms_table(alarms))
    active = ", ".join(alarms["active"]) or "none"
    console.print(f"[bold]{alarms['raised']}[/] alarm(s) raised, {alarms['cleared']} cleared; "
                  f"still in ALARM at the end of the data: {active}")


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=170)  # piped or captured: do not squeeze columns to 80
    console.print(summary_table(summary))
    tot = summary["totals"]
    console.print(f"[bold]{tot['invocations']:,}[/] invocations, {tot['cold_starts']:,} cold starts, "
                  f"{tot['errors']} errors, {tot['timeouts']} timeouts, {tot['out_of_memory']} OOMs, "
                  f"{tot['crashes']} crashes, {tot['unfinished']} unfinished, est. cost ${tot['cost_usd']:.4f}")
    if summary.get("traces"):
        print_traces(summary["traces"], console)
    if summary.get("alarms") is not None:
        print_alarms(summary["alarms"], console)
