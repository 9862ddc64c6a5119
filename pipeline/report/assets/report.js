// coldtrace report: draws every chart of the page as inline SVG from the embedded JSON data.
// No library, no network. Each chart element gets data-rendered="true" once drawn; any script
// error is written into #report-errors (the browser test asserts it stays empty).
"use strict";
(function () {
  var errors = document.getElementById("report-errors");
  function report(msg) {
    if (!errors) return;
    errors.hidden = false;
    errors.textContent += msg + "\n";
  }
  window.addEventListener("error", function (e) { report("error: " + e.message + " (line " + e.lineno + ")"); });

  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#2f6fde", "#e8833a", "#3aa55d", "#c94c4c", "#8e6bd1", "#1ea7b8", "#c7a12a", "#d462a6",
                 "#5d7d99", "#7fb13d"];
  var OTHER_COLOR = "#9aa3ad";
  var OUTCOME_COLORS = {success: "#3aa55d", error: "#c94c4c", timeout: "#e8833a", out_of_memory: "#8e1f6e",
                        crash: "#5b2a86", unfinished: "#9aa3ad"};
  var W = 640, H = 230, M = {l: 62, r: 12, t: 10, b: 28};

  function el(name, attrs, parent, text) {
    var n = document.createElementNS(NS, name);
    for (var k in attrs) n.setAttribute(k, attrs[k]);
    if (text !== undefined) n.textContent = text;
    if (parent) parent.appendChild(n);
    return n;
  }
  function svg(host, w, h) {
    var s = el("svg", {viewBox: "0 0 " + w + " " + h, width: "100%", role: "img",
                       preserveAspectRatio: "xMinYMin meet", style: "max-width:" + w + "px"});
    host.appendChild(s);
    return s;
  }
  function colorOf(names) {
    var map = {}, i = 0;
    names.forEach(function (n) { map[n] = n === "other" ? OTHER_COLOR : PALETTE[i++ % PALETTE.length]; });
    return map;
  }
  function fmt(v, unit) {
    if (v === null || v === undefined) return "–";
    if (unit === "%") return (100 * v).toFixed(1) + " %";
    if (unit === "$") return "$" + (v >= 1 ? v.toFixed(2) : v.toPrecision(3));
    if (unit === "ms") return v >= 10000 ? (v / 1000).toFixed(1) + " s" : Math.round(v).toLocaleString("en") + " ms";
    if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en");
    return (Math.round(v * 100) / 100).toString();
  }
  function clock(ms, withDate) {
    var d = new Date(ms), iso = d.toISOString();
    return withDate ? iso.slice(0, 10) + " " + iso.slice(11, 19) : iso.slice(11, 19);
  }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v))), f = v / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 4 ? 4 : f <= 6 ? 6 : f <= 8 ? 8 : 10) * p;  // quarters stay round
  }
  function legend(host, names, colors) {
    var box = document.createElement("div");
    box.className = "legend";
    names.forEach(function (n) {
      var item = document.createElement("span");
      var sw = document.createElement("i");
      sw.style.background = colors[n];
      item.appendChild(sw);
      item.appendChild(document.createTextNode(n));
      box.appendChild(item);
    });
    host.appendChild(box);
  }
  function yAxis(s, max, unit, w, h) {
    for (var i = 0; i <= 4; i++) {
      var v = max * i / 4, y = h - M.b - (h - M.t - M.b) * i / 4;
      el("line", {x1: M.l, x2: w - M.r, y1: y, y2: y, "class": "grid"}, s);
      el("text", {x: M.l - 6, y: y + 4, "text-anchor": "end", "class": "tick"}, s, fmt(v, unit));
    }
  }
  function xAxisTime(s, t, x, w, h) {
    var step = Math.max(1, Math.ceil(t.length / 8));
    for (var i = 0; i < t.length; i += step) {
      el("text", {x: x(i), y: h - 8, "text-anchor": "middle", "class": "tick"}, s, clock(t[i]));
    }
  }

  // Series over time: "line" draws one line per name; "stack" draws stacked bars.
  function timeChart(host, spec) {
    var t = spec.t, names = Object.keys(spec.series), n = t.length;
    var any = names.some(function (nm) { return spec.series[nm].some(function (v) { return v; }); });
    if (!names.length || (spec.kind === "stack" && !any)) { empty(host, spec.empty || "nothing to draw"); return; }
    var colors = spec.colors || colorOf(names);
    var s = svg(host, W, H), max = 0, i;
    var plotW = W - M.l - M.r, plotH = H - M.t - M.b;
    var x = function (k) { return M.l + plotW * (k + 0.5) / n; };
    if (spec.kind === "stack") {
      for (i = 0; i < n; i++) {
        var sum = 0;
        names.forEach(function (nm) { sum += spec.series[nm][i] || 0; });
        max = Math.max(max, sum);
      }
    } else {
      names.forEach(function (nm) { spec.series[nm].forEach(function (v) { if (v !== null) max = Math.max(max, v); }); });
    }
    max = niceMax(max);
    var y = function (v) { return H - M.b - plotH * v / max; };
    yAxis(s, max, spec.unit, W, H);
    xAxisTime(s, t, x, W, H);
    if (spec.kind === "stack") {
      var bw = Math.max(1, plotW / n - 1);
      for (i = 0; i < n; i++) {
        var base = 0;
        names.forEach(function (nm) {
          var v = spec.series[nm][i] || 0;
          if (!v) return;
          var r = el("rect", {x: x(i) - bw / 2, y: y(base + v), width: bw, height: y(base) - y(base + v),
                              fill: colors[nm], "class": "mark"}, s);
          el("title", {}, r, nm + " " + clock(t[i]) + ": " + fmt(v, spec.unit));
          base += v;
        });
      }
    } else {
      // Buckets without a value (a one-minute metric in 10 s buckets) are bridged, and every
      // value gets a dot, so sparse series still show.
      names.forEach(function (nm) {
        var d = "";
        spec.series[nm].forEach(function (v, k) {
          if (v === null || v === undefined) return;
          d += (d ? "L" : "M") + x(k).toFixed(1) + "," + y(v).toFixed(1);
          var dot = el("circle", {cx: x(k).toFixed(1), cy: y(v).toFixed(1), r: 1.8, fill: colors[nm], "class": "mark"}, s);
          el("title", {}, dot, nm + " " + clock(t[k]) + ": " + fmt(v, spec.unit));
        });
        if (d) {
          var p = el("path", {d: d, fill: "none", stroke: colors[nm], "stroke-width": 1.6, "class": "mark"}, s);
          el("title", {}, p, nm);
        }
      });
    }
    legend(host, names, colors);
  }

  // Horizontal bars: one row per label, one bar per group (grouped), optional limit line.
  function barChart(host, spec) {
    var labels = spec.labels, groups = Object.keys(spec.groups);
    if (!labels.length) { empty(host, spec.empty || "nothing to draw"); return; }
    var rowH = 8 + 10 * groups.length, h = M.t + M.b + rowH * labels.length, left = 150;
    var s = svg(host, W, h), max = spec.max || 0, colors = spec.colors || colorOf(groups);
    groups.forEach(function (g) { spec.groups[g].forEach(function (v) { if (v !== null) max = Math.max(max, v); }); });
    max = spec.max || niceMax(max);
    var plotW = W - left - M.r - 60;
    var x = function (v) { return left + plotW * Math.min(v, max) / max; };
    for (var i = 0; i <= 4; i++) {
      var gx = left + plotW * i / 4;
      el("line", {x1: gx, x2: gx, y1: M.t, y2: h - M.b, "class": "grid"}, s);
      el("text", {x: gx, y: h - 10, "text-anchor": "middle", "class": "tick"}, s, fmt(max * i / 4, spec.unit));
    }
    labels.forEach(function (label, r) {
      var y0 = M.t + rowH * r;
      el("text", {x: left - 6, y: y0 + rowH / 2 + 4, "text-anchor": "end", "class": "label"}, s, label);
      groups.forEach(function (g, k) {
        var v = spec.groups[g][r];
        if (v === null || v === undefined) return;
        var rect = el("rect", {x: left, y: y0 + 4 + 10 * k, width: Math.max(1, x(v) - left), height: 8,
                               fill: colors[g], "class": "mark"}, s);
        el("title", {}, rect, label + " " + g + ": " + fmt(v, spec.unit));
        if (groups.length === 1) {
          el("text", {x: x(v) + 4, y: y0 + 12 + 10 * k, "class": "tick"}, s, fmt(v, spec.unit));
        }
      });
    });
    if (spec.limit !== undefined) {
      el("line", {x1: x(spec.limit), x2: x(spec.limit), y1: M.t, y2: h - M.b, "class": "limit"}, s);
    }
    if (groups.length > 1) legend(host, groups, colors);
  }

  // Init duration distribution: a small histogram per function.
  function histograms(host, hist) {
    var names = Object.keys(hist).filter(function (n) { return hist[n].counts.length; });
    if (!names.length) { empty(host, "no cold start with an init duration in this run"); return; }
    var cw = 240, ch = 120, cols = 3, rows = Math.ceil(names.length / cols);
    var s = svg(host, cw * cols, ch * rows);
    names.forEach(function (name, k) {
      var h = hist[name], ox = (k % cols) * cw, oy = Math.floor(k / cols) * ch;
      var max = Math.max.apply(null, h.counts), n = h.counts.length, bw = (cw - 30) / n;
      el("text", {x: ox + 8, y: oy + 14, "class": "label"}, s, name);
      h.counts.forEach(function (c, i) {
        var bh = (ch - 46) * c / max;
        var r = el("rect", {x: ox + 8 + i * bw, y: oy + ch - 26 - bh, width: Math.max(1, bw - 1), height: bh,
                            fill: "#e8833a", "class": "mark"}, s);
        el("title", {}, r, name + ": " + c + " cold starts with init " + i * h.width_ms + "–" +
                           (i + 1) * h.width_ms + " ms");
      });
      el("text", {x: ox + 8, y: oy + ch - 12, "class": "tick"}, s, "0");
      el("text", {x: ox + 8 + n * bw, y: oy + ch - 12, "text-anchor": "end", "class": "tick"}, s,
         fmt(n * h.width_ms, "ms"));
    });
  }

  // Alarm timeline: one lane per function and rule, ALARM spans as bars, transitions as ticks.
  function alarmTimeline(host, view) {
    var lanes = view.lanes, lo = Date.parse(DATA.meta.start), hi = Date.parse(DATA.meta.end);
    var left = 230, laneH = 22, h = M.t + M.b + laneH * lanes.length, s = svg(host, W, h);
    var plotW = W - left - M.r, span = Math.max(hi - lo, 1);
    var x = function (ms) { return left + plotW * (ms - lo) / span; };
    for (var i = 0; i <= 6; i++) {
      var ms = lo + span * i / 6;
      el("line", {x1: x(ms), x2: x(ms), y1: M.t, y2: h - M.b, "class": "grid"}, s);
      el("text", {x: x(ms), y: h - 8, "text-anchor": "middle", "class": "tick"}, s, clock(ms));
    }
    lanes.forEach(function (lane, r) {
      var y0 = M.t + laneH * r;
      el("text", {x: left - 6, y: y0 + 15, "text-anchor": "end", "class": "label"}, s, lane.function + " · " + lane.rule);
      el("rect", {x: left, y: y0 + 6, width: plotW, height: 10, fill: "#e7f3ea"}, s);
      lane.spans.forEach(function (sp) {
        var rect = el("rect", {x: x(sp.start_ms), y: y0 + 3, width: Math.max(2, x(sp.end_ms) - x(sp.start_ms)),
                               height: 16, fill: sp.severity === "critical" ? "#a61b1b" : "#d9534f", "class": "mark"}, s);
        el("title", {}, rect, lane.function + " " + lane.rule + " in ALARM " + clock(sp.start_ms) + "–" +
                              clock(sp.end_ms) + (sp.open ? " (still open)" : ""));
      });
      lane.marks.forEach(function (m) {
        el("line", {x1: x(m.time_ms), x2: x(m.time_ms), y1: y0 + 1, y2: y0 + 21,
                    stroke: m.state === "ALARM" ? "#6d0f0f" : "#2e7d32", "stroke-width": 1.5, "class": "mark"}, s);
      });
    });
  }

  // One trace: a bar per span, indented by depth, cold starts (and their init) highlighted.
  function waterfall(host, trace) {
    var left = 220, rowH = 18, rows = trace.rows, h = M.t + M.b + rowH * rows.length, s = svg(host, W, h);
    var plotW = W - left - M.r - 70, total = Math.max(trace.duration_ms, 1);
    var x = function (ms) { return left + plotW * ms / total; };
    for (var i = 0; i <= 4; i++) {
      var v = total * i / 4;
      el("line", {x1: x(v), x2: x(v), y1: M.t, y2: h - M.b, "class": "grid"}, s);
      el("text", {x: x(v), y: h - 8, "text-anchor": "middle", "class": "tick"}, s, fmt(v, "ms"));
    }
    rows.forEach(function (r, k) {
      var y0 = M.t + rowH * k;
      el("text", {x: 6 + 12 * r.depth, y: y0 + 13, "class": "label" + (r.cold ? " cold" : "")}, s,
         (r.cold && !r.init ? "❄ " : "") + r.name);
      var fill = r.init ? "#e8833a" : r.status === "error" ? "#c94c4c" : r.cold ? "#f0b27a" : "#2f6fde";
      var rect = el("rect", {x: x(r.offset_ms), y: y0 + 3, width: Math.max(2, x(r.offset_ms + r.duration_ms) - x(r.offset_ms)),
                             height: 12, fill: fill, "class": r.cold ? "mark cold" : "mark"}, s);
      el("title", {}, rect, r.name + ": " + fmt(r.duration_ms, "ms") + " at +" + fmt(r.offset_ms, "ms") +
                            (r.init ? " (init: the caller waited)" : r.cold ? " (cold start)" : ""));
      el("text", {x: x(r.offset_ms + r.duration_ms) + 4, y: y0 + 13, "class": "tick"}, s, fmt(r.duration_ms, "ms"));
    });
  }

  function empty(host, message) {
    var p = document.createElement("p");
    p.className = "empty";
    p.textContent = message;
    host.appendChild(p);
  }

  function pick(obj, keys) {
    var out = {};
    keys.forEach(function (k) { if (obj[k] !== undefined) out[k] = obj[k]; });
    return out;
  }
  function column(rows, key) { return rows.map(function (r) { return r[key]; }); }

  var S = DATA.series, T = DATA.throughput, F = DATA.functions, CS = DATA.cold_starts;
  var fnColors = colorOf(S.functions);
  function colorsFor(series) {  // a function keeps its colour from chart to chart
    var names = Object.keys(series), extra = colorOf(names), out = {};
    names.forEach(function (n) { out[n] = fnColors[n] || extra[n]; });
    return out;
  }
  var byCost = DATA.cost;
  var DRAW = {
    "invocations": function (h) { timeChart(h, {kind: "stack", t: S.t, series: S.invocations, colors: fnColors}); },
    "failed": function (h) {
      timeChart(h, {kind: "stack", t: S.t, series: S.failed, colors: fnColors, empty: "no failed invocation in this run"});
    },
    "outcomes": function (h) {
      var names = Object.keys(S.outcomes).sort(function (a, b) {
        return Object.keys(OUTCOME_COLORS).indexOf(a) - Object.keys(OUTCOME_COLORS).indexOf(b); });
      timeChart(h, {kind: "stack", t: S.t, series: pick(S.outcomes, names), colors: OUTCOME_COLORS});
    },
    "cold-rate": function (h) {
      barChart(h, {labels: column(CS.functions, "function"), unit: "%",
                   groups: {"cold-start rate": column(CS.functions, "cold_start_rate")}, colors: {"cold-start rate": "#e8833a"}});
    },
    "init-percentiles": function (h) {
      barChart(h, {labels: column(CS.functions, "function"), unit: "ms",
                   groups: {"init p50": column(CS.functions, "init_p50_ms"), "init p95": column(CS.functions, "init_p95_ms"),
                            "init p99": column(CS.functions, "init_p99_ms")},
                   colors: {"init p50": "#f5c08f", "init p95": "#e8833a", "init p99": "#b55314"}});
    },
    "init-histograms": function (h) { histograms(h, CS.histograms); },
    "cold-over-time": function (h) {
      timeChart(h, {kind: "stack", t: S.t, series: S.cold_starts, colors: fnColors, empty: "no cold start in this run"});
    },
    "duration-percentiles": function (h) {
      barChart(h, {labels: column(F, "function"), unit: "ms",
                   groups: {p50: column(F, "duration_p50_ms"), p95: column(F, "duration_p95_ms"), p99: column(F, "duration_p99_ms")},
                   colors: {p50: "#9cc0f5", p95: "#2f6fde", p99: "#173f8a"}});
    },
    "duration-p95-over-time": function (h) { timeChart(h, {kind: "line", t: S.t, series: S.duration_p95_ms, unit: "ms", colors: fnColors}); },
    "memory": function (h) {
      barChart(h, {labels: column(F, "function"), unit: "%", max: 1, limit: 0.9,
                   groups: {"p50": column(F, "memory_utilization_p50"), "p95": column(F, "memory_utilization_p95"),
                            "max": column(F, "memory_utilization_max")},
                   colors: {p50: "#a8dcb9", p95: "#3aa55d", max: "#1d6b38"}});
    },
    "throttles": function (h) {
      if (T.throttles_message) { empty(h, T.throttles_message); return; }
      timeChart(h, {kind: "stack", t: T.t, series: T.throttles, colors: colorsFor(T.throttles),
                    empty: "no throttles in this run"});
    },
    "downstream-throttles": function (h) {
      timeChart(h, {kind: "stack", t: T.t, series: T.downstream_throttles,
                    colors: colorsFor(T.downstream_throttles), empty: "no throttled calls in this run"});
    },
    "concurrency": function (h) { timeChart(h, {kind: "line", t: T.t, series: T.concurrency, colors: colorsFor(T.concurrency)}); },
    "iterator-age": function (h) {
      var v = DATA.iterator_age;
      if (v.message) { empty(h, v.message); return; }
      timeChart(h, {kind: "line", t: v.t, series: v.series, unit: "ms", colors: colorsFor(v.series)});
    },
    "cost": function (h) {
      barChart(h, {labels: column(byCost, "function"), unit: "$", groups: {"cost": column(byCost, "cost_usd")},
                   colors: {cost: "#8e6bd1"}});
    },
    "alarms": function (h) {
      var v = DATA.alarms;
      if (!v.lanes.length) { empty(h, v.message || "no alarms in this run"); return; }
      alarmTimeline(h, v);
    },
    "waterfall": function (h) {
      var k = +h.getAttribute("data-trace"), trace = DATA.traces.traces[k];
      waterfall(h, trace);
    }
  };

  document.querySelectorAll("[data-chart]").forEach(function (host) {
    var name = host.getAttribute("data-chart");
    try {
      if (!DRAW[name]) throw new Error("no drawing for chart " + name);
      DRAW[name](host);
      host.setAttribute("data-rendered", "true");
    } catch (e) {
      host.setAttribute("data-rendered", "false");
      report("chart " + name + ": " + (e && e.stack || e));
    }
  });

  // Sortable tables: click a header; numbers sort by their raw value (data-v).
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("th").forEach(function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
          var nx = parseFloat(x), ny = parseFloat(y), c;
          if (x === "" && y !== "") c = 1; else if (y === "" && x !== "") c = -1;
          else if (!isNaN(nx) && !isNaN(ny)) c = nx - ny;
          else c = String(x).localeCompare(String(y));
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  document.body.setAttribute("data-report-ready", "true");
})();
