"""The bulk writer: documents into Elasticsearch once, whatever the network does.

Every document goes with its deterministic ``_id``, as ``create`` so a retry or a replay
never duplicates it: a 409 conflict means "already indexed" and is counted as such. Indices
whose documents are re-emitted with new content (traces: ``pipeline.model.bulk_op``) go as
``index`` instead, which overwrites: a replay is just as harmless, and a re-emitted trace's
root span takes its new facts. An overwrite (``result: updated``) is counted as already
indexed too: the id was there.
Requests are sized by document count and bytes and sent by at most ``concurrency`` threads.
A whole request that fails with 429, 5xx or a connection error, and items that fail with 429
or 5xx, are sent again after an exponential backoff; items Elasticsearch rejects for good
(mapping conflicts, 400) become DeadLetter documents in ``coldtrace-deadletter`` with the
error, and in the ``rejects_path`` file when one is given. When retries run out the writer
raises ``BulkError``: nothing is dropped silently, and a rerun is harmless.

No Beam here: ``pipeline.sinks.elasticsearch`` wraps this writer in a DoFn, and
``coldtrace es-load`` uses it on its own.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterable

import orjson
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import SerializationError, TlsError

from pipeline.model import INDEX_DEADLETTER, DeadLetter, bulk_op

log = logging.getLogger(__name__)

STAGE = "elasticsearch"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class BulkError(RuntimeError):
    """Documents could not be written after every retry (Elasticsearch unavailable, or refusing
    our credentials). Nothing was dropped: the caller fails, and a rerun is idempotent."""


@dataclass
class BulkCounts:
    """What happened to the documents handed to the writer."""

    indexed: int = 0          # created now
    already_indexed: int = 0  # 409: the same _id was there (a replay, or a retry of a request that did land)
    retried: int = 0          # documents sent again after a retryable failure
    rejected: int = 0         # refused for good, turned into dead letters
    dead_lettered: int = 0    # dead-letter documents written for the rejected ones
    requests: int = 0
    bytes: int = 0

    def add(self, other: "BulkCounts") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class _Item:
    index: str
    doc_id: str
    payload: bytes  # action line + document line, newline-terminated


@dataclass
class _Outcome:
    counts: BulkCounts = field(default_factory=BulkCounts)
    rejects: list[tuple[_Item, str]] = field(default_factory=list)


def classify(status: int) -> str:
    """One bulk item's status → ``created``, ``exists``, ``retry`` or ``reject``."""
    if 200 <= status < 300:
        return "created"
    if status == 409:
        return "exists"
    if status == 429 or status >= 500:
        return "retry"
    return "reject"


def error_reason(status: int, error: Any) -> str:
    """``400 mapper_parsing_exception: failed to parse field [...] (caused by: ...)``."""
    if not isinstance(error, dict):
        return f"{status} {error}"
    text = f"{status} {error.get('type', 'error')}: {error.get('reason', '')}"
    cause = error.get("caused_by")
    if isinstance(cause, dict) and cause.get("reason"):
        text += f" (caused by {cause.get('type', 'error')}: {cause['reason']})"
    return text


def backoff_delay(attempt: int, initial: float, cap: float) -> float:
    """Exponential backoff with jitter: about initial·2^(attempt-1), at most ``cap``."""
    return min(cap, initial * (2 ** (attempt - 1))) * (0.5 + random.random() / 2)


def _encode(index: str, doc_id: str, doc: dict[str, Any]) -> bytes:
    return (orjson.dumps({bulk_op(index): {"_index": index, "_id": doc_id}}) + b"\n"
            + orjson.dumps(doc) + b"\n")


class BulkWriter:
    """Buffers documents and writes them with the bulk API (see the module docstring).

    ``client`` is an ``elasticsearch.Elasticsearch`` (made with ``max_retries=0``: this writer
    retries). Use as a context manager, or call ``flush()`` then ``close()``.
    """

    def __init__(self, client, *, max_docs: int = 1000, max_bytes: int = 5 * 1024 * 1024,
                 concurrency: int = 2, max_retries: int = 8, initial_backoff: float = 0.5,
                 max_backoff: float = 30.0, deadletter_index: str = INDEX_DEADLETTER,
                 rejects_path: str | None = None, refresh: bool = False,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.max_docs, self.max_bytes = max(1, max_docs), max(1, max_bytes)
        self.max_retries, self.initial_backoff, self.max_backoff = max_retries, initial_backoff, max_backoff
        self.deadletter_index, self.rejects_path = deadletter_index, rejects_path
        self.refresh, self.sleep = refresh, sleep
        self.counts = BulkCounts()
        self._buf: list[_Item] = []
        self._buf_bytes = 0
        self._inflight: deque[Future] = deque()
        self._concurrency = max(1, concurrency)
        self._pool = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="es-bulk")
        self._lock = threading.Lock()

    # -- adding documents -------------------------------------------------------------
    def add(self, index: str, record) -> None:
        """A model record: anything with ``doc_id()`` and ``to_doc()``."""
        self._append(_Item(index, record.doc_id(), _encode(index, record.doc_id(), record.to_doc())))

    def add_doc(self, index: str, doc_id: str, doc: dict[str, Any]) -> None:
        self._append(_Item(index, doc_id, _encode(index, doc_id, doc)))

    def add_pair(self, action: dict[str, Any], doc: dict[str, Any]) -> None:
        """An (action, document) pair as read back from a local index file."""
        op = action.get("create") or action.get("index") or {}
        if not op.get("_index") or not op.get("_id"):
            raise ValueError(f"bulk action without _index and _id: {action}")
        self.add_doc(op["_index"], str(op["_id"]), doc)

    def add_all(self, index: str, items: Iterable[Any]) -> None:
        """Records, or (action, document) pairs (then ``index`` is taken from the action)."""
        for item in items:
            if isinstance(item, tuple):
                self.add_pair(*item)
            else:
                self.add(index, item)

    def _append(self, item: _Item) -> None:
        self._buf.append(item)
        self._buf_bytes += len(item.payload)
        if len(self._buf) >= self.max_docs or self._buf_bytes >= self.max_bytes:
            self._submit()

    # -- sending ----------------------------------------------------------------------
    def _submit(self) -> None:
        if not self._buf:
            return
        chunk, self._buf, self._buf_bytes = self._buf, [], 0
        while len(self._inflight) >= self._concurrency:
            self._collect(self._inflight.popleft())
        self._inflight.append(self._pool.submit(self._send, chunk))

    def flush(self) -> BulkCounts:
        """Send everything buffered and wait for it (dead letters of rejects included)."""
        while self._buf or self._inflight:
            self._submit()
            while self._inflight:
                self._collect(self._inflight.popleft())
        if self.refresh:
            self.client.indices.refresh(index="coldtrace-*")
        return self.counts

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._pool.shutdown(wait=True)

    def abort(self) -> None:
        """Stop without sending what is buffered (the caller is failing anyway)."""
        self._buf, self._buf_bytes = [], 0
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "BulkWriter":
        return self

    def __exit__(self, exc_type, *exc: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _collect(self, fut: Future) -> None:
        outcome: _Outcome = fut.result()  # BulkError propagates
        with self._lock:
            self.counts.add(outcome.counts)
        if outcome.rejects:
            self._dead_letter(outcome.rejects)

    def _dead_letter(self, rejects: list[tuple[_Item, str]]) -> None:
        now = int(time.time() * 1000)
        lines: list[bytes] = []
        for item, reason in rejects:
            log.warning("Elasticsearch rejected %s/%s: %s", item.index, item.doc_id, reason)
            doc_line = item.payload.split(b"\n", 1)[1].rstrip(b"\n")
            if item.index == self.deadletter_index:
                lines.append(item.payload)  # a dead letter refused itself: only the file keeps it
                continue
            dl = DeadLetter(raw=doc_line.decode("utf-8", "replace"), stage=STAGE, error=reason,
                            source=f"{item.index}/{item.doc_id}", time_ms=now)
            dl_item = _Item(self.deadletter_index, dl.doc_id(), _encode(self.deadletter_index, dl.doc_id(), dl.to_doc()))
            lines.append(dl_item.payload)
            self.counts.dead_lettered += 1
            self._append(dl_item)
        if self.rejects_path and lines:
            with self._lock, open(self.rejects_path, "ab") as f:
                f.writelines(lines)

    def _send(self, chunk: list[_Item]) -> _Outcome:
        """Send one chunk until every item is created, known, or rejected for good."""
        from elasticsearch import ApiError  # noqa: PLC0415 -- elasticsearch: +190-430 ms of import, paid only with --es-url (docs/benchmarks.md)

        out = _Outcome()
        pending, attempt, last_error = chunk, 0, ""
        while pending:
            if attempt:
                if attempt > self.max_retries:
                    raise BulkError(f"{len(pending)} document(s) not written after {self.max_retries} "
                                    f"retries; last error: {last_error}")
                out.counts.retried += len(pending)
                self.sleep(backoff_delay(attempt, self.initial_backoff, self.max_backoff))
            attempt += 1
            body = b"".join(item.payload for item in pending)
            out.counts.requests += 1
            out.counts.bytes += len(body)
            try:
                resp = self.client.bulk(operations=body)
            except TlsError:
                raise
            except (TransportConnectionError, SerializationError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                continue
            except ApiError as exc:
                status = exc.meta.status
                last_error = f"HTTP {status}: {exc.message}"
                if status in RETRY_STATUSES:
                    continue
                if status == 413 and len(pending) > 1:
                    half = len(pending) // 2
                    for part in (pending[:half], pending[half:]):
                        sub = self._send(part)
                        out.counts.add(sub.counts)
                        out.rejects += sub.rejects
                    return out
                if status in (401, 403):
                    raise BulkError(f"Elasticsearch refused the credentials: {last_error}") from None
                if status >= 500:  # 501, 505…: not the server's bad moment, and not the documents' fault
                    raise BulkError(f"Elasticsearch cannot take bulk requests: {last_error}") from None
                out.rejects += [(item, error_reason(status, exc.body.get("error") if isinstance(exc.body, dict)
                                                    else exc.message)) for item in pending]
                out.counts.rejected += len(pending)
                return out
            pending = self._route_items(pending, resp.body.get("items", []), out)
            if pending:
                last_error = "items answered 429/5xx"
        return out

    def _route_items(self, sent: list[_Item], results: list[dict], out: _Outcome) -> list[_Item]:
        if len(results) != len(sent):  # a truncated answer: resend all; 409s make it harmless
            return sent
        retry: list[_Item] = []
        for item, res in zip(sent, results):
            info = next(iter(res.values()))
            status = int(info.get("status", 500))
            kind = classify(status)
            if kind == "created" and info.get("result") == "updated":
                out.counts.already_indexed += 1  # an ``index`` op replaced the document with that id
            elif kind == "created":
                out.counts.indexed += 1
            elif kind == "exists":
                out.counts.already_indexed += 1
            elif kind == "retry":
                retry.append(item)
            else:
                out.counts.rejected += 1
                out.rejects.append((item, error_reason(status, info.get("error"))))
        return retry
