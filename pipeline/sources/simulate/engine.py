"""The fleet run in event time, and its two ways out: held in memory (`simulate`) or streamed to
payload files plus ground_truth.json (`write_fleet`).

Invocations wait on one heap by arrival time (roots arrive as a Poisson process, children when
their caller calls them); every SHIP_TICK_MS the streams whose oldest event is FLUSH_AGE_MS old
ship. The parts of one run are mixins over the state set up here: environments, invocations,
chains, payloads (shipping) and truth.
"""

from __future__ import annotations

import heapq
import math
import random
from pathlib import Path
from typing import Iterator

import orjson

from pipeline.sources.incidents import METRICS_FILE, IncidentBook
from pipeline.sources.simulate.chains import _Chains
from pipeline.sources.simulate.changes import FleetChanges
from pipeline.sources.simulate.environments import _Environments, _Instance, _Pool
from pipeline.sources.simulate.fleet import FleetConfig, FunctionSpec, _traffic_start, fleet_functions
from pipeline.sources.simulate.invocations import _Invocations
from pipeline.sources.simulate.payloads import SHIP_TICK_MS, _control, _payload_line, _Shipping
from pipeline.sources.simulate.spec import _RUNTIME_VERSION
from pipeline.sources.simulate.truth import _stats, _Truth


class _Fleet(_Environments, _Invocations, _Chains, _Shipping, _Truth):
    """Runs the fleet in event time; `payloads()` yields (file number, payload) as they ship."""

    def __init__(self, config: FleetConfig) -> None:
        self.c = config
        self.specs = fleet_functions(config)
        # the first text-format function with an extension sees it fail to launch in its first
        # environment once (EXTENSION … State: LaunchError … Error Type), failing that invocation
        self.launch_error_fn = next((s.index for s in self.specs if s.extension and s.log_format == "text"), None)
        self.rng = random.Random(f"coldtrace-sim:{config.seed}")
        self.brng = random.Random(f"coldtrace-batch:{config.seed}")
        self.end_ms = config.start_ms + config.minutes * 60_000
        self.pools = [_Pool() for _ in self.specs]
        self.stats = {s.name: _stats(s) for s in self.specs}
        self.arns = {s.name: f"arn:aws:lambda:{config.region}::runtime:{random.Random(s.name).getrandbits(256):064x}"
                     for s in self.specs}
        self.open: dict[int, _Instance] = {}
        self.heap: list = []
        self.seq = 0
        self.instances = 0
        self.events = 0
        self.invocations: list[dict] = []
        self.traces: dict[str, dict] = {}
        self.payload_count = 0
        self.duplicates = 0
        self.changes = FleetChanges(self, config.changes, _RUNTIME_VERSION)   # also sets self.runtime_versions (a runtime update changes them)
        self.incidents = IncidentBook(config.incidents, self.specs, config.start_ms, config.minutes,
                                      config.seed) if config.incidents else None

    # -- arrivals ---------------------------------------------------------------------------------
    def _rate_per_ms(self, spec: FunctionSpec, t: float) -> float:
        rate = self.c.invocations_per_minute * spec.rate_mult / 60_000
        window = self.end_ms - self.c.start_ms
        if spec.burst and 0.3 <= (t - self.c.start_ms) / window < 0.4:
            rate *= 4
        if self.incidents:
            rate *= self.incidents.rate_factor(spec, t)
        return rate

    def _push(self, t: float, fi: int, ctx: tuple | None) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, fi, ctx))

    def _next_root(self, spec: FunctionSpec, t: float) -> None:
        rate = self._rate_per_ms(spec, t)
        nxt = t + self.rng.expovariate(rate) if rate > 0 else math.inf
        if nxt < self.end_ms:
            self._push(nxt, spec.index, None)

    # -- the run ----------------------------------------------------------------------------------
    def _shipments(self) -> Iterator[tuple[int, dict]]:
        """Invoke in arrival order, shipping at every tick (no duplicate deliveries yet)."""
        c = self.c
        window = self.end_ms - c.start_ms
        controls = [c.start_ms + (k + 1) * window // (c.control_messages + 1) for k in range(c.control_messages)]
        for spec in self.specs:
            for _ in range(spec.provisioned):
                inst = self._create(spec, c.start_ms + self.rng.randrange(1000, 5000), "provisioned")
                heapq.heappush(self.pools[spec.index].busy, (inst.free_at, inst.number, inst))
            if spec.parent is None:
                self._next_root(spec, float(_traffic_start(c, spec)))
        tick = c.start_ms + SHIP_TICK_MS
        while self.heap:
            t, _, fi, ctx = heapq.heappop(self.heap)
            while t >= tick:
                while controls and controls[0] <= tick:
                    yield len(controls) % c.files, _control(controls.pop(0))
                yield from self._ship_tick(tick)
                tick += SHIP_TICK_MS
            self.changes.apply(self, t)
            self._invoke(fi, t, ctx)
            if ctx is None:
                self._next_root(self.specs[fi], t)
        for inst in sorted(self.open.values(), key=lambda i: (i.events[0][0], i.number)):
            yield from self._flush(inst, math.inf)
        while controls:
            yield len(controls) % c.files, _control(controls.pop(0))


def simulate(config: FleetConfig) -> tuple[list[dict], dict]:
    """(payloads in delivery order, ground truth) held in memory: for small fleets and tests."""
    fleet = _Fleet(config)
    payloads = [payload for _, payload in fleet.payloads()]
    return payloads, fleet.truth()


def write_fleet(out_dir: str | Path, config: FleetConfig) -> dict:
    """Stream the fleet to out_dir/payloads-NNNNN.ndjson (+ ground_truth.json); returns the truth.

    A log stream always lands in the same file, so a reader of one file sees each stream in order.
    Earlier payloads-*.ndjson files in out_dir are removed first.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("payloads-*.ndjson"):          # a reader globs them: leave no earlier shards
        stale.unlink()
    (out / METRICS_FILE).unlink(missing_ok=True)
    fleet = _Fleet(config)
    handles = [open(out / f"payloads-{k:05d}.ndjson", "wb", buffering=1 << 20) for k in range(config.files)]
    try:
        for file_no, payload in fleet.payloads():
            handles[file_no].write(_payload_line(payload))
    finally:
        for handle in handles:
            handle.close()
    truth = fleet.truth()
    if fleet.incidents:                                 # what CloudWatch's metrics would show
        with open(out / METRICS_FILE, "wb") as f:
            for rec in fleet.incidents.metric_records(config.account, config.region):
                f.write(orjson.dumps(rec) + b"\n")
    indent = orjson.OPT_INDENT_2 if truth["events"] <= 200_000 else 0    # keep huge truths compact
    (out / "ground_truth.json").write_bytes(orjson.dumps(truth, option=indent))
    return truth
