"""The HTML report of a simulated run: its numbers equal the index files', and it renders in a
real browser (headless Chromium) with every chart drawn and no script error."""

from __future__ import annotations

import html as htmllib
import json
import math
import os
import re
import shutil
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from pipeline.cli import main as coldtrace
from pipeline.model import INDEX_ALARMS, INDEX_INVOCATIONS, INDEX_METRICS, INDEX_TRACES
from pipeline.report.html import write_report
from pipeline.report.load import load_run
from pipeline.report.views import build_report
from pipeline.sketch import RELATIVE_ACCURACY
from tests.chromium import Chromium, chromium_path, file_url

ROOT = Path(__file__).resolve().parents[2]
FAILED = {"error", "timeout", "out_of_memory", "crash"}


INCIDENTS = ("error_burst:api-gateway-handler:1-6", "throttle_storm:orders-api:4-6", "consumer_lag:notifications:1-5")


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    """`coldtrace run` on a simulated fleet with incidents (errors, throttles, a lagging consumer):
    every index the report reads is written by the pipeline, and the run writes the report."""
    here = tmp_path_factory.mktemp("report-run")
    out = here / "out"
    argv = ["run", "--out", "out", "--events", "8000", "--quiet"]  # relative: the page (and screenshot) say "out"
    for incident in INCIDENTS:
        argv += ["--incident", incident]
    cwd = os.getcwd()
    os.chdir(here)
    try:
        assert coldtrace(argv) == 0
    finally:
        os.chdir(cwd)
    truth = json.loads((out / "input" / "ground_truth.json").read_text("utf-8"))
    return out, out / "report.html", truth


def embedded_data(page: Path) -> dict:
    text = page.read_text("utf-8")
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S)
    assert m, "the report embeds its data"
    return json.loads(m.group(1))


def raw_docs(out: Path, index: str) -> list[dict]:
    """Documents of a bulk-format file, read without the pipeline's reader: every second line."""
    lines = [line for line in (out / "indices" / f"{index}.ndjson").read_text("utf-8").splitlines() if line.strip()]
    return [json.loads(line) for line in lines[1::2]]


def nearest_rank(values: list[float], q: int) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[max(1, math.ceil(q * len(s) / 100)) - 1]


def test_report_numbers_equal_the_index_files(report_run):
    out, page, truth = report_run
    data = embedded_data(page)
    inv = raw_docs(out, INDEX_INVOCATIONS)
    assert data["totals"]["invocations"] == len(inv) == len(truth["invocations"]) > 0
    assert data["totals"]["failed"] == sum(d["aws.lambda.outcome"] in FAILED for d in inv)
    assert data["totals"]["cold_starts"] == sum(bool(d["faas.coldstart"]) for d in inv) > 0
    assert data["totals"]["cost_usd"] == pytest.approx(sum(d.get("aws.lambda.estimated_cost_usd", 0) for d in inv))

    by_fn = defaultdict(list)
    for d in inv:
        by_fn[d["faas.name"]].append(d)
    rows = {r["function"]: r for r in data["functions"]}
    assert set(rows) == set(by_fn) == set(truth["functions"])
    for fn, ds in by_fn.items():
        r = rows[fn]
        assert r["invocations"] == len(ds)
        assert r["failed"] == sum(d["aws.lambda.outcome"] in FAILED for d in ds)
        assert r["timeouts"] == sum(d["aws.lambda.outcome"] == "timeout" for d in ds)
        assert r["out_of_memory"] == sum(d["aws.lambda.outcome"] == "out_of_memory" for d in ds)
        assert r["cold_starts"] == sum(bool(d["faas.coldstart"]) for d in ds)
        durations = [d["aws.lambda.duration_ms"] for d in ds if "aws.lambda.duration_ms" in d]
        for q in (50, 95, 99):
            # from the percentile sketch: within its relative accuracy (then rounded to 0.01 ms)
            assert r[f"duration_p{q}_ms"] == pytest.approx(nearest_rank(durations, q), rel=RELATIVE_ACCURACY, abs=0.006)
        inits = [d.get("aws.lambda.init_duration_ms", d.get("aws.lambda.restore_duration_ms"))
                 for d in ds if d["faas.coldstart"]]
        for q in (50, 95, 99):
            assert r[f"init_p{q}_ms"] == nearest_rank([i for i in inits if i is not None], q)
        # (a Lambda Managed Instances function reports no memory: no utilisation at all)
        assert r["memory_utilization_max"] == max((d["aws.lambda.memory_utilization"] for d in ds
                                                   if "aws.lambda.memory_utilization" in d), default=None)
        assert r["cost_usd"] == pytest.approx(sum(d.get("aws.lambda.estimated_cost_usd", 0) for d in ds))
        assert r["downstream_throttles"] == sum("throttle" in d.get("aws.lambda.signals", []) for d in ds)

    series = data["series"]
    per_fn_total = {fn: sum(v) for fn, v in series["invocations"].items()}
    assert sum(per_fn_total.values()) == len(inv)
    for fn, n in per_fn_total.items():
        if fn != "other":
            assert n == len(by_fn[fn])
    assert {o: sum(v) for o, v in series["outcomes"].items()} == dict(Counter(d["aws.lambda.outcome"] for d in inv))
    assert sum(map(sum, series["cold_starts"].values())) == data["totals"]["cold_starts"]

    cold = data["cold_starts"]
    runtime_of = {fn: f["runtime"] for fn, f in truth["functions"].items()}
    for row in cold["by_runtime"]:
        fns = [fn for fn in by_fn if (rows[fn]["runtime"] or "unknown") == row["runtime"]]
        assert row["cold_starts"] == sum(rows[fn]["cold_starts"] for fn in fns)
        assert row["invocations"] == sum(len(by_fn[fn]) for fn in fns)
    for row in cold["functions"]:  # the architecture read back from the cost matches the fleet's
        if any("aws.lambda.estimated_cost_usd" in d for d in by_fn[row["function"]]):
            # (none to read back for Lambda Managed Instances: no per-invocation cost)
            assert row["architecture"] == truth["functions"][row["function"]]["architecture"]
        assert row["runtime"] and runtime_of[row["function"]]
    assert sum(r["cold_starts"] for r in cold["by_memory"]) == data["totals"]["cold_starts"]

    metric_docs = raw_docs(out, INDEX_METRICS)
    throttled = defaultdict(lambda: {"cloudwatch": 0, "logs": 0, "has_cloudwatch": False})
    for d in metric_docs:
        if "aws.lambda.metrics.throttles" in d:
            t = throttled[d["faas.name"]]
            source = "cloudwatch" if d["coldtrace.metrics.source"] == "cloudwatch" else "logs"
            t[source] += d["aws.lambda.metrics.throttles"]
            t["has_cloudwatch"] |= source == "cloudwatch"
    for fn, r in rows.items():  # CloudWatch's count where the feed has one, else the logs' count
        t = throttled[fn]
        assert r["throttles"] == (t["cloudwatch"] if t["has_cloudwatch"] else t["logs"])
    assert rows["orders-api"]["throttles"] > 0 and data["totals"]["throttles"] == sum(r["throttles"] for r in rows.values())

    alarm_docs = raw_docs(out, INDEX_ALARMS)
    assert len(data["alarms"]["transitions"]) == len(alarm_docs)
    assert data["totals"]["alarms"] == sum(d["coldtrace.alarm.state"] == "ALARM" for d in alarm_docs)
    ages = [d["aws.lambda.metrics.iterator_age_max_ms"] for d in metric_docs if "aws.lambda.metrics.iterator_age_max_ms" in d]
    drawn = [v for vs in data["iterator_age"]["series"].values() for v in vs if v is not None]
    assert max(drawn) == max(ages) > 0
    shown = Counter((a["function"], a["rule"], a["state"]) for a in data["alarms"]["transitions"])
    expected = Counter((a["function"], a["rule"], a["state"]) for a in truth["expected_alarms"])
    # the simulator's regressing deploy and runtime update (sources/simulate/changes.py) raise their
    # function's error rate: an error-rate alarm there, after the change, is right though no incident made it
    changed = {fn: min(c["at_ms"] for c in f["changes"]) for fn, f in truth["functions"].items()
               if any(c["kind"] in ("deploy", "runtime-update") for c in f.get("changes", ()))}
    from_changes = [a for a in data["alarms"]["transitions"] if a["function"] in changed and a["rule"] == "error-rate"
                    and (a["function"], a["rule"], a["state"]) not in expected]
    assert all(a["time_ms"] >= changed[a["function"]] // 60_000 * 60_000 for a in from_changes)
    shown -= Counter((a["function"], a["rule"], a["state"]) for a in from_changes)
    assert shown == expected
    assert {fn for fn, _, _ in shown} == {"api-gateway-handler", "orders-api", "notifications"}

    spans = raw_docs(out, INDEX_TRACES)
    assert data["traces"]["source"] == INDEX_TRACES
    def ms(iso: str) -> int:
        return round(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)

    extent = defaultdict(lambda: [math.inf, -math.inf, 0])
    for s in spans:
        e = extent[s["trace.id"]]
        e[0], e[1], e[2] = min(e[0], ms(s["event.start"])), max(e[1], ms(s["event.end"])), e[2] + 1
    shown = data["traces"]["traces"]
    assert len(shown) > 0
    for t in shown:
        lo, hi, n = extent[t["trace_id"]]
        assert (t["spans"], t["duration_ms"]) == (n, hi - lo)
    assert shown[0]["duration_ms"] == max(hi - lo for lo, hi, n in extent.values() if n > 1)


def test_views_say_plainly_when_an_index_is_absent(report_run, tmp_path):
    out, _, _ = report_run
    (tmp_path / "indices").mkdir()
    shutil.copy(out / "indices" / f"{INDEX_INVOCATIONS}.ndjson", tmp_path / "indices")
    (tmp_path / "indices" / f"{INDEX_ALARMS}.ndjson").write_text("")
    data = build_report(load_run(str(tmp_path)))
    assert data["alarms"]["message"] == "no alarms in this run"
    assert data["iterator_age"]["message"].startswith("no metrics index in this run")
    assert data["traces"]["message"].startswith("no traces indexed")
    assert data["traces"]["source"] == INDEX_INVOCATIONS and data["traces"]["traces"]  # rebuilt from invocations
    assert data["throughput"]["concurrency_source"].startswith(INDEX_INVOCATIONS)
    page = Path(write_report(data, str(tmp_path / "report.html"))).read_text("utf-8")
    assert "no alarms in this run" in page and "no traces indexed" in page
    assert data["meta"]["documents"][INDEX_METRICS] is None and data["meta"]["documents"][INDEX_ALARMS] == 0


def test_report_is_self_contained(report_run):
    _, page, _ = report_run
    text = page.read_text("utf-8")
    assert not re.search(r'<(script|link|img)[^>]+(src|href)=', text), "no external script, style or image"
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text


@pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed (apt-get install chromium; .ci/run "
                                                    "installs it when run as root)")
def test_report_renders_in_headless_chromium(report_run, tmp_path):
    pytest.importorskip("websocket", reason="websocket-client (test extra) drives Chromium")
    out, page, _ = report_run
    browser = Chromium(tmp_path / "profile")
    try:
        browser.open(file_url(page))
        assert browser.evaluate("document.body.getAttribute('data-report-ready')") == "true"
        charts = browser.evaluate("""[...document.querySelectorAll('[data-chart]')].map(e => ({
            name: e.dataset.chart, rendered: e.dataset.rendered,
            marks: e.querySelectorAll('svg .mark').length,
            empty: (e.querySelector('.empty') || {}).textContent || null}))""")
        errors_box = browser.evaluate("document.getElementById('report-errors').textContent")
        invocations = browser.evaluate("""[...document.querySelectorAll('#functions tbody tr')].map(
            r => [r.cells[0].textContent, +r.cells[3].dataset.v])""")
        browser.evaluate("document.querySelector('#functions th:nth-child(4)').click()")
        browser.evaluate("document.querySelector('#functions th:nth-child(4)').click()")
        sorted_desc = browser.evaluate("""[...document.querySelectorAll('#functions tbody tr')].map(
            r => +r.cells[3].dataset.v)""")
        browser.screenshot(tmp_path / "report-full.png")
        # The README's picture is refreshed only on request: a test run leaves the tree clean.
        shot = ROOT / "docs" / "report.png" if os.environ.get("COLDTRACE_UPDATE_DOCS") else tmp_path / "report.png"
        size = browser.screenshot(shot, max_height=1900)
        errors = browser.script_errors()
    finally:
        browser.close()
    assert errors == [] and errors_box == ""
    names = {c["name"] for c in charts}
    assert {"invocations", "failed", "outcomes", "cold-rate", "init-percentiles", "init-histograms", "duration-percentiles",
            "memory", "throttles", "concurrency", "iterator-age", "cost", "alarms", "waterfall"} <= names
    for c in charts:
        assert c["rendered"] == "true" and c["marks"] > 0 and c["empty"] is None, c  # data drawn, not just axes
    data = embedded_data(page)
    assert dict(invocations) == {r["function"]: r["invocations"] for r in data["functions"]}
    assert sorted_desc == sorted(sorted_desc, reverse=True)  # two clicks on the header: descending
    assert size[0] >= 1000 and shot.stat().st_size > 20_000
    assert htmllib.escape(data["meta"]["title"]) in page.read_text("utf-8")
