"""The retry policy of AWS read calls (Kinesis, CloudWatch Logs and metrics). Pure.

One decision, asked by every caller: ``decide(exc, attempt, elapsed_s, backoff)`` says whether a
failed call is tried again, after how long, and whether the Kinesis shard iterator must be
renewed first. Transient faults (``pipeline.aws_errors.fault_kind``: throttling, an expired
iterator, HTTP 5xx, a connection refused or reset, a timeout) are retried with exponential
backoff and full jitter, capped per wait, until ``max_attempts`` calls or ``budget_s`` seconds;
anything else is final at once. An expired iterator is renewed without waiting (it is not the
service asking us to slow down).

botocore's own retries are off on the clients these calls use, so this is the only place that
retries, and every fault is counted by the caller.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from pipeline.aws_errors import EXPIRED_ITERATOR, describe, fault_kind


@dataclass
class Backoff:
    """Exponential backoff with full jitter: the n-th wait (from 0) is uniform in
    [0, min(cap_ms, base_ms·2ⁿ)]; at most ``max_attempts`` calls, started within ``budget_s``."""

    base_ms: float = 100.0
    cap_ms: float = 5000.0
    max_attempts: int = 12
    budget_s: float = 300.0
    rng: random.Random = field(default_factory=random.Random)

    def delay_s(self, attempt: int) -> float:
        return self.rng.uniform(0, min(self.cap_ms, self.base_ms * (2 ** min(attempt, 62)))) / 1000.0


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again: after ``delay_s``; renew the shard iterator first when ``renew_iterator``."""

    kind: str
    delay_s: float
    renew_iterator: bool = False


def decide(exc: BaseException, attempt: int, elapsed_s: float, backoff: Backoff) -> Retry | None:
    """The retry decision after call number ``attempt`` (from 0) failed with ``exc``, ``elapsed_s``
    seconds after the first call: a ``Retry``, or None (give up: final, or out of attempts/time)."""
    kind = fault_kind(exc)
    if kind is None or attempt + 1 >= backoff.max_attempts:
        return None
    delay = 0.0 if kind == EXPIRED_ITERATOR else backoff.delay_s(attempt)
    if elapsed_s + delay > backoff.budget_s:
        return None
    return Retry(kind, delay, renew_iterator=kind == EXPIRED_ITERATOR)


class RetriesExhausted(RuntimeError):
    """A transient fault that did not go away: the message names what was read and the last error."""

    def __init__(self, what: str, attempts: int, elapsed_s: float, last: BaseException) -> None:
        super().__init__(f"{what}: gave up after {attempts} attempt(s) over {elapsed_s:.1f} s; "
                         f"last error: {describe(last)}")
        self.what, self.attempts, self.last = what, attempts, last


def exhausted_in(exc: BaseException) -> RetriesExhausted | None:
    """The ``RetriesExhausted`` behind ``exc`` (a runner wraps what a DoFn raised), if any."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, RetriesExhausted):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def call_with_backoff(fn: Callable[..., Any], backoff: Backoff, sleep: Callable[[float], None] = time.sleep,
                      on_fault: Callable[[Retry], None] | None = None, *, what: str | None = None,
                      clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> Any:
    """``fn(**kwargs)``, tried again as ``decide`` says. ``on_fault`` sees each retried fault
    (before the wait: it may renew state ``fn`` reads). A final error is raised as it is; a
    transient one that outlasts the policy raises ``RetriesExhausted`` naming ``what``."""
    began = clock()
    attempt = 0
    while True:
        try:
            return fn(**kwargs)
        except Exception as exc:  # sorted by decide(): final errors are re-raised unchanged
            elapsed = clock() - began
            retry = decide(exc, attempt, elapsed, backoff)
            if retry is None:
                if fault_kind(exc) is None:
                    raise
                raise RetriesExhausted(what or getattr(fn, "__name__", "call"), attempt + 1, elapsed, exc) from exc
            if on_fault is not None:
                on_fault(retry)
            if retry.delay_s:
                sleep(retry.delay_s)
            attempt += 1
