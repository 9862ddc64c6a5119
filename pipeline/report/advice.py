"""The report's Advice section: the findings of ``coldtrace advise`` for the same run."""

from __future__ import annotations

import html
from typing import Any

from pipeline.advise import advise
from pipeline.advise.files import load_aggregate
from pipeline.advise.finding import Finding
from pipeline.advise.summary_lines import finding_line
from pipeline.report.load import RunDocs


def advice_view(run: RunDocs) -> dict[str, Any]:
    """{"source", "findings": [finding JSON, ...]} for the run: its advice aggregate when the
    pipeline wrote one, else one folded from its invocations index line by line."""
    if not getattr(run, "out_dir", None):
        return {"source": None, "findings": []}
    try:
        loaded = load_aggregate(run.out_dir)
    except (FileNotFoundError, ValueError):
        return {"source": None, "findings": []}
    return {"source": loaded.source, "findings": [f.to_json() for f in advise(loaded.aggregate)]}


def advice_section(view: dict[str, Any] | None) -> str:
    """The section's HTML: one item per finding, its evidence and caveat under it."""
    head = ('<p class="source">memory size, architecture, provisioned concurrency, and regressions after a deploy '
            "or a runtime update; thresholds and the rules: docs/advice.md (the same list: coldtrace advise)</p>")
    findings = (view or {}).get("findings") or []
    if not findings:
        return head + '<p class="empty">no advice: nothing in this run supports a change</p>'
    items = []
    for d in findings:
        f = Finding.from_json(d)
        note = f'<br><small>note: {html.escape(f.caveat)}</small>' if f.caveat else ""
        items.append(f'<li data-kind="{html.escape(f.kind)}"><b>{html.escape(finding_line(f))}</b><br>'
                     f"{html.escape(f.evidence)}{note}</li>")
    return f'{head}<ol class="advice" id="advice-findings">{"".join(items)}</ol>'
