"""Error, out-of-memory and throttle signatures as the runtimes and SDKs write them."""

from __future__ import annotations

import re

# Out-of-memory as each language reports it, plus the platform's own error type.
OOM = re.compile(
    r"MemoryError|JavaScript heap out of memory|java\.lang\.OutOfMemoryError|"
    r"fatal error: runtime: out of memory|failed to allocate memory \(NoMemoryError\)|"
    r"Runtime\.OutOfMemory|System\.OutOfMemoryException"
)

# What a caller logs when the service it calls throttled it (AWS SDKs, HTTP clients).
THROTTLE = re.compile(
    r"TooManyRequestsException|ThrottlingException|ProvisionedThroughputExceededException|"
    r"RequestLimitExceeded|SlowDown|Rate [Ee]xceeded|rate exceeded|Throttling:|"
    r"(?:status|Status|HTTP|http)[ _-]?(?:code)?[:= ]+429\b|\b429 Too Many Requests"
)


def signals_of(text: str, level: str | None) -> tuple[str, ...]:
    """Names of the signatures found in an application line (cheap: two regex scans)."""
    found: list[str] = []
    if OOM.search(text):
        found.append("oom")
    if THROTTLE.search(text):
        found.append("throttle")
    return tuple(found)


def throttle_name(text: str) -> str | None:
    """The throttle signature's own text (e.g. ``TooManyRequestsException``), for error.type."""
    m = THROTTLE.search(text)
    return m.group(0) if m else None
