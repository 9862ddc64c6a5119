"""The report page: one self-contained HTML file (script, style and data inline; no network).

Tables are rendered here (they read without script; the script only sorts them); charts are
drawn by ``assets/report.js`` from the data embedded as JSON in ``<script id="report-data">``.
"""

from __future__ import annotations

import html
import os
from importlib import resources
from typing import Any

import orjson

from pipeline.model import iso_ms
from pipeline.report.advice import advice_section

Column = tuple[str, str, str]  # (key, header, format: text, int, ms, pct, usd, num, mb)


def _asset(name: str) -> str:
    return resources.files("pipeline.report").joinpath("assets", name).read_text("utf-8")


def fmt(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "text":
        return str(value)
    if kind == "int":
        return f"{value:,}"
    if kind == "ms":
        return f"{value:,.0f}" if value >= 10 else f"{value:,.2f}"
    if kind == "pct":
        return f"{100 * value:.1f} %"
    if kind == "usd":
        return f"${value:,.2f}" if value >= 1 else f"${value:.3g}"
    if kind == "mb":
        return f"{value:,} MB"
    return f"{value:,.2f}" if isinstance(value, float) else str(value)


def _sort_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    return str(value)


def table(columns: list[Column], rows: list[dict[str, Any]], cls: str = "sortable") -> str:
    head = "".join(f'<th class="{"text" if k == "text" else ""}">{html.escape(label)}</th>'
                   for _, label, k in columns)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="{"text" if k == "text" else ""}" data-v="{html.escape(_sort_value(row.get(key)))}">'
            f"{html.escape(fmt(row.get(key), k))}</td>" for key, _, k in columns)
        body.append(f"<tr>{cells}</tr>")
    return (f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def chart(name: str, caption: str, **attrs: Any) -> str:
    extra = "".join(f' data-{k}="{html.escape(str(v))}"' for k, v in attrs.items())
    return (f'<figure><figcaption>{html.escape(caption)}</figcaption>'
            f'<div class="chart" data-chart="{name}"{extra}></div></figure>')


def source(text: str) -> str:
    return f'<p class="source">{html.escape(text)}</p>'


def embed_json(data: Any) -> str:
    """JSON safe inside a <script> element: ``<`` only occurs in strings, where ``\\u003c`` is
    the same character, so no ``</script>`` or ``<!--`` can end the element early."""
    return orjson.dumps(data).decode().replace("<", "\\u003c")


FUNCTION_COLUMNS: list[Column] = [
    ("function", "function", "text"), ("runtime", "runtime", "text"), ("memory_size_mb", "memory", "mb"),
    ("invocations", "invocations", "int"), ("failed", "failed", "int"), ("error_rate", "failed %", "pct"),
    ("timeouts", "timeouts", "int"), ("out_of_memory", "OOMs", "int"), ("crashes", "crashes", "int"),
    ("cold_starts", "cold starts", "int"), ("cold_start_rate", "cold %", "pct"),
    ("duration_p50_ms", "p50 ms", "ms"), ("duration_p95_ms", "p95 ms", "ms"), ("duration_p99_ms", "p99 ms", "ms"),
    ("memory_utilization_max", "max mem %", "pct"), ("throttles", "throttles", "int"),
    ("downstream_throttles", "throttled calls", "int"),
    ("peak_concurrency", "peak conc.", "int"), ("cost_usd", "cost", "usd"),
]
COLD_COLUMNS: list[Column] = [
    ("function", "function", "text"), ("runtime", "runtime", "text"), ("memory_size_mb", "memory", "mb"),
    ("invocations", "invocations", "int"), ("cold_starts", "cold starts", "int"),
    ("cold_start_rate", "cold %", "pct"), ("cold_starts_per_hour", "per hour", "num"),
    ("on_demand", "on-demand", "int"), ("snapstart", "SnapStart", "int"), ("provisioned", "provisioned inits", "int"),
    ("init_p50_ms", "init p50 ms", "ms"), ("init_p95_ms", "init p95 ms", "ms"), ("init_p99_ms", "init p99 ms", "ms"),
    ("init_total_s", "waited s", "num"), ("peak_concurrency", "peak conc.", "int"),
    ("provisioned_cost_per_hour_usd", "PC $/hour", "usd"), ("provisioned_cost_per_month_usd", "PC $/month", "usd"),
]
GROUP_COLUMNS: list[Column] = [
    ("invocations", "invocations", "int"), ("cold_starts", "cold starts", "int"), ("cold_start_rate", "cold %", "pct"),
    ("init_p50_ms", "init p50 ms", "ms"), ("init_p95_ms", "init p95 ms", "ms"), ("init_p99_ms", "init p99 ms", "ms"),
]
MEMORY_COLUMNS: list[Column] = [
    ("function", "function", "text"), ("memory_size_mb", "memory", "mb"), ("max_memory_used_mb", "max used", "mb"),
    ("memory_utilization_p50", "p50", "pct"), ("memory_utilization_p95", "p95", "pct"),
    ("memory_utilization_max", "max", "pct"), ("out_of_memory", "OOMs", "int"),
]
COST_COLUMNS: list[Column] = [
    ("function", "function", "text"), ("cost_usd", "estimated cost", "usd"), ("share", "share", "pct"),
    ("invocations", "invocations", "int"), ("cost_per_million_usd", "per million invocations", "usd"),
]
ALARM_COLUMNS: list[Column] = [
    ("time", "time (UTC)", "text"), ("function", "function", "text"), ("rule", "rule", "text"),
    ("previous_state", "from", "text"), ("state", "to", "text"), ("severity", "severity", "text"),
    ("value", "value", "num"), ("threshold", "threshold", "num"), ("reason", "reason", "text"),
]


def _advice(rows: list[dict[str, Any]]) -> str:
    head = ('<h3>Advice</h3><p class="note">Only where the data supports it (thresholds in '
            "pipeline/report/coldstarts.py).</p>")
    if not rows:
        return head + '<p class="empty">no advice: no function has enough cold starts, often and long enough, ' \
                      "to act on</p>"
    items = "".join(f"<li><b>{html.escape(r['function'])}</b> — {html.escape(a['kind'])}: {html.escape(a['text'])}</li>"
                    for r in rows for a in r["advice"])
    return f'{head}<ul class="advice" id="cold-start-advice">{items}</ul>'


def _tiles(d: dict[str, Any]) -> str:
    t = d["totals"]
    items = [("functions", f"{t['functions']:,}"), ("invocations", f"{t['invocations']:,}"),
             ("failed", f"{t['failed']:,}"), ("cold starts", f"{t['cold_starts']:,}"),
             ("throttles", f"{t['throttles']:,}"), ("alarms raised", f"{t['alarms']:,}"),
             ("estimated cost", fmt(t["cost_usd"], "usd"))]
    return '<div class="tiles">' + "".join(
        f'<div class="tile" data-total="{html.escape(k)}"><b>{html.escape(v)}</b><span>{html.escape(k)}</span></div>'
        for k, v in items) + "</div>"


def _sections(d: dict[str, Any]) -> list[tuple[str, str, str]]:
    cs, thr, alarms, traces = d["cold_starts"], d["throughput"], d["alarms"], d["traces"]
    out = [("functions", "Functions", source(f"from {d['series']['source']}; click a header to sort")
            + table(FUNCTION_COLUMNS, d["functions"]))]
    out.append(("activity", "Invocations and errors over time", source(
        f"from {d['series']['source']}, {d['series']['interval_ms'] // 1000:,} s buckets; the busiest functions "
        "by name, the rest as 'other'") + '<div class="grid2">'
        + chart("invocations", "Invocations per function") + chart("failed", "Failed invocations per function")
        + chart("outcomes", "Invocations by outcome") + "</div>"))
    advised = [r for r in cs["functions"] if r["advice"]]
    out.append(("cold-starts", "Cold starts", source(
        "which functions, how often, how long the callers waited (init, or restore for SnapStart), and what "
        "provisioned concurrency sized at the observed peak would cost")
        + '<div class="grid2">' + chart("cold-rate", "Cold-start rate per function")
        + chart("init-percentiles", "Init duration percentiles per function") + "</div>"
        + table(COLD_COLUMNS, cs["functions"]) + _advice(advised)
        + chart("init-histograms", "Init duration distribution per function")
        + chart("cold-over-time", "Cold starts over time")
        + '<div class="grid2"><div><h3>By runtime</h3>'
        + table([("runtime", "runtime", "text"), ("functions", "functions", "int")] + GROUP_COLUMNS, cs["by_runtime"])
        + '</div><div><h3>By memory size</h3>'
        + table([("memory_size_mb", "memory", "mb"), ("functions", "functions", "int")] + GROUP_COLUMNS, cs["by_memory"])
        + "</div></div><h3>By function, runtime and memory size</h3>"
        + table([("function", "function", "text"), ("runtime", "runtime", "text"), ("memory_size_mb", "memory", "mb")]
                + GROUP_COLUMNS, cs["breakdown"])))
    out.append(("duration", "Duration", source(f"from {d['series']['source']}; nearest-rank percentiles")
                + '<div class="grid2">' + chart("duration-percentiles", "Duration p50 / p95 / p99 per function")
                + chart("duration-p95-over-time", "Duration p95 over time") + "</div>"))
    out.append(("memory", "Memory utilisation", source("max memory used / memory size per invocation; the dashed "
                                                         "line marks 90 %")
                + chart("memory", "Memory utilisation per function") + table(MEMORY_COLUMNS, d["functions"])))
    out.append(("throughput", "Throttles and concurrency",
                '<div class="grid2"><div>' + chart("throttles", "Throttles (invocations Lambda rejected)")
                + source(thr.get("throttles_source", "")) + "</div><div>"
                + chart("downstream-throttles", "Throttled calls (the functions' own calls to other services)")
                + source(thr["downstream_source"]) + "</div><div>"
                + chart("concurrency", "Concurrency (peak per bucket)")
                + source(thr["concurrency_source"]) + "</div></div>"))
    ia = d["iterator_age"]
    out.append(("iterator-age", "Iterator age",
                (source(f"from {ia['source']}: how far behind a stream's consumer is (CloudWatch's IteratorAge of "
                        "stream-triggered functions, coldtrace-pipeline's own), the maximum per bucket")
                 if "source" in ia else "") + chart("iterator-age", "Iterator age")))
    out.append(("cost", "Cost per function", source("estimated from billed duration, memory and architecture "
                                                   "(pipeline/cost.py list prices)")
                + chart("cost", "Estimated cost per function") + table(COST_COLUMNS, d["cost"])))
    rows = [{**r, "time": r["time_ms"] and _clock(r["time_ms"])} for r in alarms["transitions"]]
    out.append(("alarms", "Alarm timeline", (source(f"from {alarms['source']}") if "source" in alarms else "")
                + chart("alarms", "Time in ALARM per function and rule")
                + (table(ALARM_COLUMNS, rows) if rows else "")))
    body = ""
    if traces.get("message"):
        body += f'<p class="note">{html.escape(traces["message"])}</p>'
    if traces.get("source"):
        body += source(f"from {traces['source']}: the slowest traces, cold starts (❄) and inits in orange")
    for k, t in enumerate(traces["traces"]):
        body += chart("waterfall", f"trace {t['trace_id']} — {t['duration_ms']:,} ms, {t['spans']} spans, "
                                   f"{t['cold_starts']} cold start(s)", trace=k)
    out.append(("traces", "Slowest traces", body))
    out.append(("advice", "Advice", advice_section(d.get("advice"))))
    return out


def _clock(ms: int) -> str:
    return iso_ms(ms).replace("T", " ").rstrip("Z")


def render(data: dict[str, Any]) -> str:
    meta = data["meta"]
    docs = ", ".join(f"{name} {n:,}" if n is not None else f"{name} (none)"
                     for name, n in meta["documents"].items())
    sections = _sections(data)
    nav = "".join(f'<a href="#{sid}">{html.escape(title)}</a>' for sid, title, _ in sections)
    main = "".join(f'<section id="{sid}"><h2>{html.escape(title)}</h2>{body}</section>'
                   for sid, title, body in sections)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(meta['title'])}</title>
<style>{_asset('report.css')}</style></head>
<body>
<header><h1>{html.escape(meta['title'])}</h1>
<p>{html.escape(meta['start'])} → {html.escape(meta['end'])} · from {html.escape(meta['out_dir'])}</p></header>
<nav>{nav}</nav>
<pre id="report-errors" hidden></pre>
<main>{_tiles(data)}{main}</main>
<footer>Generated {html.escape(meta['generated'])} by coldtrace from the local index files: {html.escape(docs)}.</footer>
<script type="application/json" id="report-data">{embed_json(data)}</script>
<script>{_asset('report.js')}</script>
</body></html>
"""


def write_report(data: dict[str, Any], path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(render(data))
    os.replace(path + ".tmp", path)
    return path
