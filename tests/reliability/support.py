"""Support for the fault-injection suite: the table every test adds a row to, the pipeline run
behind each row, and what a row is made of (events in, indexed, dead-lettered, duplicates, lost).

Each test injects one fault on loopback (a proxy or the server's own stop/start), lets the
system recover by itself (bounded retries) or through its documented path (a retried batch,
``coldtrace replay``), then counts from the outputs — never from the component's own claims.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import boto3

from pipeline.local_index import index_path, read_index
from pipeline.model import INDEX_LOGS
from pipeline.run import RunConfig, run
from pipeline.sources.simulate import FleetConfig

FLEET = FleetConfig(seed=5, functions=4, minutes=2, invocations_per_minute=20, files=2)
REGION = "eu-west-1"


@dataclass
class Row:
    """One fault and what came out of it."""

    fault: str
    events_in: int           # distinct log events that went in
    indexed: int             # distinct events found in the output index
    dead_lettered: int       # events (or documents) set aside with a reason, not indexed
    duplicates: int          # documents beyond the first for one event: must be 0
    lost: int                # events in, neither indexed nor dead-lettered: must be 0
    deduplicated: int = 0    # re-deliveries the pipeline removed (the ledger's duplicates term)
    ledger: str = "balanced"
    notes: str = ""
    seconds: float = 0.0


ROWS: list[Row] = []
COLUMNS = ("fault", "events in", "indexed", "dead-lettered", "duplicates", "lost", "deduplicated", "ledger", "s",
           "notes")


def record(row: Row) -> Row:
    """Add the row to the suite's table, then hold it to the promise: nothing lost, nothing twice."""
    ROWS.append(row)
    assert row.duplicates == 0, f"{row.fault}: {row.duplicates} duplicate document(s)"
    assert row.lost == 0, f"{row.fault}: {row.lost} event(s) lost"
    assert row.ledger == "balanced", f"{row.fault}: ledger {row.ledger}"
    return row


def table(rows: Iterable[Row]) -> str:
    """A Markdown table (readable as plain text too)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for r in rows:
        cells = [r.fault, f"{r.events_in:,}", f"{r.indexed:,}", f"{r.dead_lettered:,}", str(r.duplicates),
                 str(r.lost), f"{r.deduplicated:,}", r.ledger, f"{r.seconds:.1f}", r.notes]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


class Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.start


# -- the pipeline behind a row -------------------------------------------------------------------
@dataclass
class Outcome:
    ledger: object                       # pipeline.ledger.Ledger
    docs_by_event: Counter = field(default_factory=Counter)   # (group, stream, event id) → documents
    dead_letters: int = 0
    result: object = None                # Beam's PipelineResult (counters of the sinks)

    @property
    def ledger_state(self) -> str:
        return "balanced" if self.ledger.balanced else "; ".join(self.ledger.problems)

    @property
    def duplicate_docs(self) -> int:
        return sum(n - 1 for n in self.docs_by_event.values() if n > 1)


def run_pipeline(inputs: list[str], out: Path, **kw) -> Outcome:
    cfg = RunConfig(inputs=inputs, out_dir=str(out), account=FLEET.account, region=FLEET.region, **kw)
    result = run(cfg)
    docs = Counter()
    for _, doc in read_index(index_path(str(out), INDEX_LOGS)):
        docs[(doc["log.group"], doc["log.stream"], doc["event.id"])] += 1
    return Outcome(result.ledger, docs, result.ledger.totals["inputs_dead_lettered"], result)


def event_keys(payloads: list[dict]) -> set[tuple[str, str, str]]:
    return {(p["logGroup"], p["logStream"], e["id"]) for p in payloads if p["messageType"] == "DATA_MESSAGE"
            for e in p["logEvents"]}


# -- Kinesis -------------------------------------------------------------------------------------
def kinesis(endpoint: str):
    return boto3.client("kinesis", region_name=REGION, endpoint_url=endpoint)


def stream_to_spool(endpoint: str, stream: str, directory: Path) -> tuple[Path, int]:
    """Every record of every shard, as the pipeline's spool files (one per shard); returns the
    directory and the number of records read."""
    client = kinesis(endpoint)
    directory.mkdir(parents=True, exist_ok=True)
    records = 0
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        it = client.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        with open(directory / f"{shard['ShardId']}.ndjson", "wb") as out:
            while it:
                resp = client.get_records(ShardIterator=it, Limit=10_000)
                for rec in resp["Records"]:
                    data = rec["Data"]
                    out.write(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
                    records += 1
                if not resp["Records"] or resp.get("MillisBehindLatest", 0) == 0:
                    break
                it = resp["NextShardIterator"]
    return directory, records


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


def table_path(root: Path) -> Path:
    """Where the suite writes its table: $COLDTRACE_FAULT_TABLE, else pytest's cache directory."""
    custom = os.environ.get("COLDTRACE_FAULT_TABLE")
    return Path(custom) if custom else root / ".pytest_cache" / "reliability" / "fault-table.md"
