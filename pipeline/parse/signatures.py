"""Error, out-of-memory and throttle signatures as the runtimes and SDKs write them."""

from __future__ import annotations

import re

# Out-of-memory as each language reports it, plus the platform's own error type.
_OOM = (r"MemoryError|JavaScript heap out of memory|java\.lang\.OutOfMemoryError|"
        r"fatal error: runtime: out of memory|failed to allocate memory \(NoMemoryError\)|"
        r"Runtime\.OutOfMemory|System\.OutOfMemoryException")
# What a caller logs when the service it calls throttled it (AWS SDKs, HTTP clients).
_THROTTLE = (r"TooManyRequestsException|ThrottlingException|ProvisionedThroughputExceededException|"
             r"RequestLimitExceeded|SlowDown|Rate [Ee]xceeded|rate exceeded|Throttling:|"
             r"(?:status|Status|HTTP|http)[ _-]?(?:code)?[:= ]+429\b|\b429 Too Many Requests")
OOM = re.compile(_OOM)
THROTTLE = re.compile(_THROTTLE)


# Substrings every signature above contains one of: plain ``in`` tests are ~20x cheaper than
# the alternation regexes, and almost no line contains any of them.
_HINTS = ("emory", "hrottl", "xceeded", "429", "TooMany", "SlowDown")
# Finer substrings, one set per regex, tested only when a coarse hint is present: "emory" alone
# is in every JSON platform.report ("memorySizeMB"), and a regex search of such a line costs
# ~40x the tests. Each alternative of OOM contains one of _OOM_HINTS; each of THROTTLE one of
# _THROTTLE_HINTS (its "429" alternatives have ":", "=" or " " or "429 Too" at the number).
_OOM_HINTS = ("MemoryError", "OutOfMemory", "out of memory")
_THROTTLE_HINTS = ("TooMany", "hrottl", "xceeded", "SlowDown", " 429", ":429", "=429", "429 Too")


def _has_any(text: str, hints: tuple[str, ...]) -> bool:
    for hint in hints:
        if hint in text:
            return True
    return False


def signals_of(text: str, level: str | None) -> tuple[str, ...]:
    """Names of the signatures found in an application line."""
    for hint in _HINTS:
        if hint in text:
            break
    else:
        return ()
    found: list[str] = []
    if _has_any(text, _OOM_HINTS) and OOM.search(text):
        found.append("oom")
    if _has_any(text, _THROTTLE_HINTS) and THROTTLE.search(text):
        found.append("throttle")
    return tuple(found)


def throttle_name(text: str) -> str | None:
    """The throttle signature's own text (e.g. ``TooManyRequestsException``), for error.type."""
    m = THROTTLE.search(text)
    return m.group(0) if m else None
