"""Where the catch-up loop's own documents go: the round's index shards, Elasticsearch, and
alarm notifications.

The documents a read's Beam pipeline makes are written by its sinks. The loop makes a few
itself after the read (the pipeline's iterator-age minutes, CloudWatch's figures, traces and
alarm transitions: ``loop_state.py``); they are rendered into the round's shard files, so the
exactly-once append of ``checkpoint.py`` covers them, and indexed into Elasticsearch before
the round commits, like the pipeline's (a rerun writes the same ids again: harmless).

Notifications are sent after the commit, from the committed round's alarm file, one alarm at
a time with the count saved after each: a loop stopped mid-way resumes with the next alarm, so
a transition is notified once (a crash in the instant between a send and its save is the
only case that repeats one). Failed deliveries become dead letters in the round's shards.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable

from pipeline.model import INDEX_DEADLETTER, Alarm
from pipeline.sinks.alarms import notifiers, notify
from pipeline.sinks.es_bulk import BulkWriter
from pipeline.sinks.es_client import make_client
from pipeline.sinks.index_files import render_chunks, shard_prefix
from pipeline.sinks.record_files import read_records, write_records

ALARMS_FILE = "alarms-to-notify.rec"


def write_shard(rdir: str, index: str, name: str, records: Iterable[Any], mode: str = "w") -> int:
    """Render records into the round's shard ``<index>-<name>.ndjson``; returns how many."""
    records = list(records)
    if not records:
        return 0
    path = f"{shard_prefix(rdir, index)}-{name}.ndjson"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode, encoding="utf-8") as f:
        for chunk in render_chunks(index, records):
            f.write(chunk + "\n")
    return len(records)


def index_into_es(settings, by_index: dict[str, list]) -> None:
    """Write the loop's documents with the bulk writer (BulkError propagates: the round fails)."""
    if not any(by_index.values()):
        return

    client = make_client(settings)
    try:
        with BulkWriter(client) as writer:
            for index, records in by_index.items():
                writer.add_all(index, records)
    finally:
        client.close()


def save_alarms(rdir: str, alarms: list[Alarm]) -> None:
    if alarms:
        write_records(os.path.join(rdir, ALARMS_FILE), alarms)


class Notifications:
    """The run's notification destinations, made once, on the first alarm."""

    def __init__(self, settings, es=None) -> None:
        self.settings, self.es = settings, es
        self._destinations: list | None = None

    def send_round(self, rdir: str, pending: dict, save: Callable[[], None]) -> int:
        """Notify the alarms of a committed round from ``pending["notified"]`` on; returns how
        many deliveries failed (each a dead letter in the round's dead-letter shard)."""
        path = os.path.join(rdir, ALARMS_FILE)
        if not self.settings.enabled or not os.path.exists(path):
            return 0

        if self._destinations is None:
            self._destinations = notifiers(self.settings)
        failed_total = 0
        for n, alarm in enumerate(read_records(path)):
            if n < pending.get("notified", 0):
                continue
            failed = notify(alarm, self._destinations)
            if failed:
                write_shard(rdir, INDEX_DEADLETTER, "notify", failed, mode="a")
                if self.es is not None:
                    index_into_es(self.es, {INDEX_DEADLETTER: failed})
                failed_total += len(failed)
            pending["notified"] = n + 1
            save()
        return failed_total
