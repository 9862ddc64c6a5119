"""The ledger of a batch run: every event read is indexed, removed as a duplicate, filtered by a
rule or dead-lettered — per source, checked after the run, a mismatch is an error.

Runner-agnostic by construction: Beam's DaskRunner reports no metrics, so the pipeline itself
writes small count records next to its index files (``<out>/ledger/.parts/``), the way it writes
documents: the reader one per input file (``SourceCounts``), the de-duplicating group one per log
stream (``StreamCounts``), and one per dead letter (``DeadLetterCount``). After the run the driver
sums them (``collect``), compares the sums with the documents the index files really hold, and
builds one row per source (``LedgerRow``).

A *source* is an ``--input`` pattern. CloudWatch Logs may deliver a payload twice, possibly into
two inputs, and duplicates are removed per log stream: sources that share a log stream are
accounted together, in one row named ``a + b``, so every row is exact.

Pure: no Beam here (``pipeline.sinks.ledger_files`` writes the records).
"""

from __future__ import annotations

import fnmatch
import glob
import os
import shutil
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator

import orjson

LEDGER_DIR = "ledger"
PARTS = ".parts"
LEDGER_FILE = "ledger.json"


@dataclass
class SourceCounts:
    """What the reader got out of one input file."""

    source: str
    payloads: int = 0           # subscription payloads decoded (control messages included)
    control_messages: int = 0   # destination health checks: acknowledged, no events
    events: int = 0             # log events decoded
    dead_letters: int = 0       # inputs that could not be decoded (lines, payloads, files)
    streams: dict[str, int] = field(default_factory=dict)  # events per log stream key

    def add_batch(self, key_of, batch: list) -> None:
        self.events += len(batch)
        streams = self.streams
        for ev in batch:
            k = key_of(ev)
            streams[k] = streams.get(k, 0) + 1

    def to_record(self) -> dict[str, Any]:
        return {"kind": "source", **asdict(self)}


@dataclass
class StreamCounts:
    """What the de-duplicating group did with one log stream's events."""

    stream: str
    events: int = 0        # events that arrived for the stream
    unique: int = 0        # events left after de-duplication: what the logs index gets
    duplicates: int = 0    # re-deliveries removed (same CloudWatch event id)
    filtered: int = 0      # dropped by a filter rule (the batch pipeline has none today)
    dead_lettered: int = 0  # events turned into dead letters after decoding

    def to_record(self) -> dict[str, Any]:
        return {"kind": "stream", **asdict(self)}


@dataclass
class DeadLetterCount:
    """One dead letter on its way to the dead-letter index."""

    stage: str

    def to_record(self) -> dict[str, Any]:
        return {"kind": "dead", "stage": self.stage}


LedgerRecord = SourceCounts | StreamCounts | DeadLetterCount
READ_STAGES = ("read", "decode")


def is_ledger_record(item: object) -> bool:
    return isinstance(item, (SourceCounts, StreamCounts, DeadLetterCount))


@dataclass
class LedgerRow:
    """One source's balance: ``events_read = indexed + duplicates + filtered + dead_lettered``."""

    source: str
    files: int = 0
    payloads: int = 0
    control_messages: int = 0
    inputs_dead_lettered: int = 0
    events_read: int = 0
    events_indexed: int = 0
    duplicates_removed: int = 0
    events_filtered: int = 0
    events_dead_lettered: int = 0

    @property
    def accounted(self) -> int:
        return self.events_indexed + self.duplicates_removed + self.events_filtered + self.events_dead_lettered

    @property
    def difference(self) -> int:
        """Events read minus events accounted for: positive means lost, negative means invented."""
        return self.events_read - self.accounted

    def line(self) -> str:
        mark = "balanced" if self.difference == 0 else f"MISMATCH by {self.difference:+,}"
        extra = [f"{self.files:,} file(s)"]
        if self.inputs_dead_lettered:
            extra.append(f"{self.inputs_dead_lettered:,} undecodable input(s) dead-lettered")
        if self.control_messages:
            extra.append(f"{self.control_messages:,} control message(s)")
        return (f"{self.source}: {self.events_read:,} events read = {self.events_indexed:,} indexed + "
                f"{self.duplicates_removed:,} duplicates removed + {self.events_filtered:,} filtered + "
                f"{self.events_dead_lettered:,} dead-lettered — {mark} ({', '.join(extra)})")


@dataclass
class Ledger:
    rows: list[LedgerRow]
    problems: list[str]                  # every check that failed, in words
    totals: dict[str, int]
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"balanced": self.balanced, "problems": self.problems, "totals": self.totals,
                "checks": self.checks,
                "rows": [{**asdict(r), "difference": r.difference} for r in self.rows]}


# -- the records on disk ----------------------------------------------------------------------
def parts_dir(out_dir: str) -> str:
    return os.path.join(out_dir, LEDGER_DIR, PARTS)


def from_record(rec: dict[str, Any]) -> LedgerRecord:
    kind = rec.pop("kind")
    if kind == "source":
        return SourceCounts(**rec)
    if kind == "stream":
        return StreamCounts(**rec)
    return DeadLetterCount(**rec)


def read_parts(out_dir: str) -> Iterator[LedgerRecord]:
    """Every count record of the last run (sealed part files only: a failed bundle left ``.part``)."""
    for path in sorted(glob.glob(os.path.join(parts_dir(out_dir), "*.ndjson"))):
        with open(path, "rb") as f:
            for line in f:
                if line.strip():
                    yield from_record(orjson.loads(line))


def clear(out_dir: str) -> None:
    shutil.rmtree(os.path.join(out_dir, LEDGER_DIR), ignore_errors=True)


# -- the balance --------------------------------------------------------------------------------
def source_of(path: str, patterns: list[str]) -> str:
    """The ``--input`` pattern a matched file came from (the first that matches it)."""
    for pat in patterns:
        if path == pat or fnmatch.fnmatchcase(path, pat) or fnmatch.fnmatchcase(path, os.path.abspath(pat)):
            return pat
        if path.startswith(pat.rstrip("*").rstrip("/") + "/"):
            return pat
    return path


class _Components:
    """Union-find over source names: sources that share a log stream are accounted together."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def balance(records: Iterable[LedgerRecord], patterns: list[str], documents: dict[str, int],
            logs_index: str, deadletter_index: str) -> Ledger:
    """Rows per source and every cross-check, from the count records and the documents written.

    ``documents`` is index name → documents in its local file (``pipeline.local_index.count_docs``).
    """
    sources: list[SourceCounts] = []
    streams: dict[str, StreamCounts] = {}
    dead_by_stage: dict[str, int] = {}
    problems: list[str] = []
    for rec in records:
        if isinstance(rec, SourceCounts):
            sources.append(rec)
        elif isinstance(rec, StreamCounts):
            if rec.stream in streams:  # one group per stream: a second record means a re-run bundle
                problems.append(f"log stream {rec.stream!r} was grouped twice")
                continue
            streams[rec.stream] = rec
        else:
            dead_by_stage[rec.stage] = dead_by_stage.get(rec.stage, 0) + 1

    comp = _Components()
    owner: dict[str, str] = {}
    for sc in sources:
        src = source_of(sc.source, patterns)
        comp.find(src)
        for key in sc.streams:
            if key in owner:
                comp.union(owner[key], src)
            else:
                owner[key] = src
    groups: dict[str, list[str]] = {}
    for name in list(comp.parent):
        groups.setdefault(comp.find(name), []).append(name)
    rows: dict[str, LedgerRow] = {root: LedgerRow(source=" + ".join(sorted(names)))
                                  for root, names in groups.items()}
    stream_events: dict[str, int] = {}
    for sc in sources:
        row = rows[comp.find(source_of(sc.source, patterns))]
        row.files += 1
        row.payloads += sc.payloads
        row.control_messages += sc.control_messages
        row.inputs_dead_lettered += sc.dead_letters
        row.events_read += sc.events
        for key, n in sc.streams.items():
            stream_events[key] = stream_events.get(key, 0) + n
    for key, st in streams.items():
        if key not in owner:
            problems.append(f"log stream {key!r} was grouped but never read")
            continue
        row = rows[comp.find(owner[key])]
        row.events_indexed += st.unique
        row.duplicates_removed += st.duplicates
        row.events_filtered += st.filtered
        row.events_dead_lettered += st.dead_lettered
        if st.events != stream_events.get(key, 0):
            problems.append(f"log stream {key!r}: {stream_events.get(key, 0):,} events read, "
                            f"{st.events:,} reached the group")
    for key in owner.keys() - streams.keys():
        problems.append(f"log stream {key!r}: {stream_events[key]:,} events read, none reached the group")
    for row in sorted(rows.values(), key=lambda r: r.source):
        if row.difference:
            problems.append(f"{row.source}: {row.events_read:,} events read but {row.accounted:,} accounted for "
                            f"({row.difference:+,}: {'lost' if row.difference > 0 else 'more than read'})")

    unique = sum(st.unique for st in streams.values())
    read_dead = sum(sc.dead_letters for sc in sources)
    checks: dict[str, Any] = {
        "logs_documents": {"expected": unique, "written": documents.get(logs_index, 0)},
        "dead_letter_documents": {"expected": sum(dead_by_stage.values()), "written": documents.get(deadletter_index, 0)},
        "read_dead_letters": {"expected": read_dead, "written": sum(dead_by_stage.get(s, 0) for s in READ_STAGES)},
    }
    for name, c in checks.items():
        if c["expected"] != c["written"]:
            problems.append(f"{name.replace('_', ' ')}: {c['expected']:,} produced, {c['written']:,} written")
    ordered = sorted(rows.values(), key=lambda r: r.source)
    totals = {k: sum(getattr(r, k) for r in ordered) for k in (
        "files", "payloads", "control_messages", "inputs_dead_lettered", "events_read", "events_indexed",
        "duplicates_removed", "events_filtered", "events_dead_lettered")}
    totals["dead_letters_by_stage"] = dict(sorted(dead_by_stage.items()))  # type: ignore[assignment]
    return Ledger(rows=ordered, problems=problems, totals=totals, checks=checks)


def cross_check_metrics(ledger: Ledger, counters: dict[str, int] | None) -> None:
    """Compare with Beam's own counters where the runner reports them (FnApiRunner does, DaskRunner
    cannot): a disagreement is a problem too."""
    if counters is None:
        ledger.checks["beam_metrics"] = "not reported by this runner"
        return
    pairs = {"events_read": ledger.totals["events_read"], "duplicate_events": ledger.totals["duplicates_removed"]}
    found: dict[str, Any] = {}
    for name, expected in pairs.items():
        got = counters.get(name, 0)
        found[name] = {"ledger": expected, "beam": got}
        if got != expected:
            ledger.problems.append(f"Beam counter {name} = {got:,} but the ledger says {expected:,}")
    ledger.checks["beam_metrics"] = found


def cross_check_elasticsearch(ledger: Ledger, counters: dict[str, Any], documents: dict[str, int]) -> None:
    """Every document of the local index files was handed to the Elasticsearch sink too, and each
    ended indexed, already there (a 409: a retry or a replay) or rejected; the dead letters the
    sink made of rejects were sent as well. Skipped when the runner reports no counters."""
    if "indexed" not in counters:
        ledger.checks["elasticsearch"] = "not reported by this runner"
        return
    handed = sum(documents.values())
    outcomes = counters["indexed"] + counters["already_indexed"] + counters["rejected"]
    ledger.checks["elasticsearch"] = {"handed": handed, "indexed": counters["indexed"],
                                      "already_indexed": counters["already_indexed"],
                                      "rejected": counters["rejected"], "dead_lettered": counters["dead_lettered"]}
    if outcomes != handed + counters["dead_lettered"]:
        ledger.problems.append(f"Elasticsearch: {handed:,} documents handed to the sink (+{counters['dead_lettered']:,} "
                               f"dead letters of rejects) but {outcomes:,} indexed, already there or rejected")


def write(ledger: Ledger, out_dir: str) -> str:
    path = os.path.join(out_dir, LEDGER_DIR, LEDGER_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(orjson.dumps(ledger.to_dict(), option=orjson.OPT_INDENT_2))
    return path
