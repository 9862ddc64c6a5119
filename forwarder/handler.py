"""The Lambda entry point: ``forwarder.handler.handler(event, context)``.

decode → enrich → filter/sample → redact → pack into records → ship → account for the rest,
a window of events at a time: records are built as the events are read and shipped as they fill,
so the handler holds one window of events and the records of one PutRecords call, never a
payload's lines or records whole.
Every event ends shipped, filtered by a rule (counted), or failed — and a failure is either a
dead-letter message (direct subscription invocations; Kinesis records that cannot be decoded)
or an entry in ``batchItemFailures`` (Kinesis and SQS event sources), so the event source
retries exactly those. When a direct invocation can neither ship nor dead-letter, it raises:
Lambda retries the asynchronous invocation, and deterministic ids make the re-shipped lines
harmless.

Import-light: stdlib, orjson and pure modules; boto3 is imported when a client is first needed.
The forwarder's own dataclasses skip ``slots=True``: a slotted dataclass costs ~1 ms more to
create at import, and these few objects per invocation do not need the memory saving.
Settings are parsed once per execution environment, on the first invocation.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from typing import IO, Any

from forwarder.deadletter import DeadLetterQueue
from forwarder.decode import WINDOW_EVENTS, Letter, Unit, open_payload, units_of
from forwarder.enrich import account_of, oldest_timestamp, payload_of
from forwarder.filters import Rules, select
from forwarder.metrics import Stats, emf, log
from forwarder.records import Packer, Record, lines_of, partition_key
from forwarder.secrets import SecretCache, SecretError
from forwarder.settings import Settings
from forwarder.ship import Deadline, Shipper, ShipStats, shipper_for
from pipeline.model import LogEvent
from pipeline.parse.awslogs import PayloadError
from pipeline.parse.redact import Redactor


class ForwardingError(RuntimeError):
    """Some events could be neither shipped nor dead-lettered: the invocation must be retried."""


class Forwarder:
    """One per execution environment: settings, shipper, clients and caches live across invocations."""

    def __init__(self, settings: Settings, shipper: Shipper | None = None, dlq: Any = None,
                 secrets: Any = None, out: IO[bytes] | None = None) -> None:
        self.settings = settings
        self.shipper = shipper or shipper_for(settings)
        if dlq is None and settings.dlq_url:  # the rare paths' modules load only when configured

            dlq = DeadLetterQueue(settings.dlq_url, settings.dlq_max_bytes, settings.region, settings.endpoint_url)
        self.dlq = dlq
        if secrets is None and settings.redact_key_ref:
            secrets = SecretCache(settings.secret_ttl_s, settings.region, settings.endpoint_url)
        self.secrets = secrets
        self.rules = Rules(settings.include, settings.exclude, settings.drop_start_end, settings.sample_rate)
        self.out = out
        self._redactors: dict[str | None, Redactor] = {}
        self.last_stats = Stats()

    @classmethod
    def from_env(cls, env: Any = None) -> "Forwarder":
        return cls(Settings.from_env(os.environ if env is None else env))

    def redactor(self) -> Redactor:
        """The redactor, keyed by the current secret (re-read after its TTL)."""
        s = self.settings
        key: str | None = None
        if s.redact_key_ref and self.secrets is not None:
            try:
                key = self.secrets.get(s.redact_key_ref)
            except SecretError as exc:  # still redact, just without the keyed tags
                log("ERROR", "redaction key unavailable; tags are not keyed", self.out, error=str(exc))
        found = self._redactors.get(key)
        if found is None:
            found = Redactor(s.redact_builtins, s.redact_patterns, key.encode() if key else None)
            self._redactors = {key: found}
        return found

    def handle(self, event: Any, context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        now_ms = int(time.time() * 1000)
        stats = self.last_stats = Stats()
        source, units = units_of(event)
        deadline = Deadline(context, self.settings.reserve_ms)
        letters: list[Letter] = []
        packed = [0]  # events in the records handed to the shipper, counted as they are built
        records = self._records(units, stats, letters, account_of(context, self.settings.account), now_ms, packed)
        ship_stats = ShipStats()
        failed = self.shipper.send(records, deadline, ship_stats)
        failed_ids: dict[int, list[str]] = {}
        reasons: dict[int, str] = {}
        for rec, reason in failed:
            failed_ids.setdefault(rec.unit, []).extend(rec.ids)
            reasons.setdefault(rec.unit, reason)
        for i, ids in failed_ids.items():
            letters.append(Letter(units[i], "ship", reasons[i], ids))
        stats.events_failed += sum(len(ids) for ids in failed_ids.values())
        stats.events_shipped = packed[0] - sum(len(ids) for ids in failed_ids.values())
        stats.records_out, stats.bytes_out = ship_stats.records, ship_stats.bytes
        stats.put_records_calls, stats.retries, stats.throttled = ship_stats.calls, ship_stats.retries, ship_stats.throttled
        try:
            return self._settle(source, letters, stats)
        finally:
            stats.duration_ms = (time.perf_counter() - started) * 1000.0
            self._report(stats, failed and ship_stats.errors)

    def _records(self, units: list[Unit], stats: Stats, letters: list[Letter], account: str | None,
                 now_ms: int, packed: list[int]) -> Iterator[Record]:
        """The records of every unit, built a window of events at a time as the shipper asks for them.

        A payload that turns out undecodable part way is dead-lettered whole: the lines of it
        already shipped ship again on replay, under the same document ids."""
        for i, unit in enumerate(units):
            stats.payloads_in += 1
            stats.bytes_in += unit.size
            if unit.error is not None:
                letters.append(Letter(unit, "decode", unit.error))
                continue
            before = (stats.events_in, stats.events_loop_dropped, stats.events_filtered, stats.events_sampled_out)
            sent = 0
            try:
                for rec in self._unit_records(i, unit, stats, account, now_ms):
                    sent += len(rec.ids)
                    yield rec
            except PayloadError as exc:
                letters.append(Letter(unit, "decode", str(exc)))
                # invalid past its first windows: what was read and not sent is in the dead letter
                read = stats.events_in - before[0]
                set_aside = (stats.events_loop_dropped - before[1]) + (stats.events_filtered - before[2]) \
                    + (stats.events_sampled_out - before[3])
                stats.events_failed += read - set_aside - sent
            packed[0] += sent

    def _unit_records(self, i: int, unit: Unit, stats: Stats, account: str | None, now_ms: int) -> Iterator[Record]:
        s = self.settings
        header, windows = open_payload(unit)
        head = payload_of(header, account, s.region, now_ms)
        if head.is_control:
            stats.control_messages += 1
            return
        own = bool(s.own_log_group) and head.log_group == s.own_log_group
        redactor: Redactor | None = None   # fetched (its key maybe from SSM) once there is a line to redact
        level = s.compress_level if self.shipper.compress else None
        packers: dict[str, Packer] = {}
        held: list[LogEvent] = []   # with rules on, a payload's events are selected together
        offset = 0
        for raw_events in windows:
            header["logEvents"] = raw_events
            events = payload_of(header, account, s.region, now_ms, unit.only_ids, offset).events
            offset += len(raw_events)
            stats.events_in += len(events)
            oldest = oldest_timestamp(events)
            if oldest is not None:
                stats.oldest_event_ms = oldest if stats.oldest_event_ms is None else min(oldest, stats.oldest_event_ms)
            if own:
                stats.events_loop_dropped += len(events)  # shipping our own logs would feed on itself
            elif self.rules.active:
                held.extend(events)
            elif events:
                if redactor is None:
                    redactor = self.redactor()
                yield from self._pack(events, i, level, packers, stats, redactor)
        header["logEvents"] = []
        if held:
            chosen = select(held, self.rules)
            del held
            stats.events_filtered += chosen.filtered
            stats.events_sampled_out += chosen.sampled_out
            kept = chosen.kept
            redactor = self.redactor()
            for n in range(0, len(kept), WINDOW_EVENTS):
                yield from self._pack(kept[n:n + WINDOW_EVENTS], i, level, packers, stats, redactor)
        for packer in packers.values():
            yield from packer.close()

    def _pack(self, events: list[LogEvent], unit: int, level: int | None, packers: dict[str, Packer],
              stats: Stats, redactor: Redactor) -> Iterator[Record]:
        """Redact a window of events and feed it to its partition key's packer."""
        if not events:
            return
        for name, n in redactor.redact_events(events).items():
            stats.redacted[name] = stats.redacted.get(name, 0) + n
        probe = events[0]
        key = partition_key(probe.log_group, probe.log_stream)
        if all(e.log_group == probe.log_group and e.log_stream == probe.log_stream for e in events):
            by_key = {key: events}
        else:
            by_key = {}
            for e in events:
                by_key.setdefault(partition_key(e.log_group, e.log_stream), []).append(e)
        for key, evs in by_key.items():
            packer = packers.get(key)
            if packer is None:
                packer = packers[key] = Packer(key, unit, self.shipper.max_record_bytes, level)
            yield from packer.add(lines_of(evs), [e.id for e in evs])

    def _settle(self, source: str, letters: list[Letter], stats: Stats) -> dict[str, Any]:
        """Dead-letter or report what was not shipped, per the event source's contract."""
        to_dlq: list[Letter] = []
        report: list[Letter] = []
        for letter in letters:
            dlq = source == "subscription" or (source == "kinesis" and letter.stage == "decode")
            (to_dlq if dlq else report).append(letter)
        if to_dlq:
            unsent = self.dlq.send(to_dlq) if self.dlq is not None else [
                (letter, "no dead-letter queue configured (COLDTRACE_DLQ_URL)") for letter in to_dlq]
            stats.dead_letters = len(to_dlq) - len(unsent)
            for letter, why in unsent:
                log("ERROR", "dead-letter failed", self.out, stage=letter.stage, reason=letter.reason, dlq_error=why)
            report.extend(letter for letter, _ in unsent)
        for letter in letters:
            log("WARN", "payload not shipped", self.out, stage=letter.stage, reason=letter.reason,
                source=letter.unit.source, item_id=letter.unit.item_id,
                events=len(letter.event_ids) if letter.event_ids is not None else None)
        if source == "subscription":
            if report:
                raise ForwardingError(f"{len(report)} payload(s) could be neither shipped nor dead-lettered: "
                                      f"{report[0].reason}")
            return {"shipped": stats.events_shipped, "dead_lettered": stats.dead_letters}
        ids: list[str] = []
        for letter in report:
            if letter.unit.item_id is None:
                raise ForwardingError(f"an unshipped {source} record has no item id to report: {letter.reason}")
            if letter.unit.item_id not in ids:
                ids.append(letter.unit.item_id)
        stats.batch_item_failures = len(ids)
        return {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}

    def _report(self, stats: Stats, errors: Any) -> None:
        s = self.settings
        if errors:
            log("WARN", "PutRecords errors", self.out, errors=errors)
        if s.metrics:
            out = self.out or sys.stdout.buffer
            out.write(emf(stats, s.metrics_namespace, s.function_name))
            out.flush()


_FORWARDER: Forwarder | None = None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point (``forwarder.handler.handler``)."""
    global _FORWARDER
    if _FORWARDER is None:
        _FORWARDER = Forwarder.from_env()
    return _FORWARDER.handle(event, context)
