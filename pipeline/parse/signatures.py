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


# Substrings that every alternative of a signature regex contains one of: plain ``in`` tests
# are ~20x cheaper than the alternation regexes, and almost no line contains any of them.
# "emory" is in every OOM alternative but also in every JSON platform.report ("memorySizeMB"),
# so it only admits the finer OOM substrings.
_OOM_HINT = "emory"
_OOM_HINTS = ("MemoryError", "OutOfMemory", "out of memory")
_THROTTLE_HINTS = ("hrottl", "xceeded", "429", "TooMany", "SlowDown")


def _has_any(text: str, hints: tuple[str, ...]) -> bool:
    for hint in hints:
        if hint in text:
            return True
    return False


def signals_of(text: str, level: str | None) -> tuple[str, ...]:
    """Names of the signatures found in an application line."""
    oom = _OOM_HINT in text and _has_any(text, _OOM_HINTS) and OOM.search(text) is not None
    if _has_any(text, _THROTTLE_HINTS) and THROTTLE.search(text):
        return ("oom", "throttle") if oom else ("throttle",)
    return ("oom",) if oom else ()

