"""Redaction of secrets and personal data before a log line leaves the forwarder.

Built-in patterns cover AWS access key ids, bearer tokens, passwords in URLs, e-mail addresses
and card numbers (Luhn-checked, so order ids and timestamps survive); users add their own
``name → regex`` pairs. Each match becomes ``[REDACTED:<name>]``, or
``[REDACTED:<name>:<hmac>]`` when a key is configured: the same value always gets the same
tag, so "how many users hit this error" stays answerable without the address being stored.

Speed: most lines hold no secret, so every pattern first asks the whole batch (joined once)
whether it can match at all — a substring test for patterns with a literal anchor, one regex
scan for the others — and only then visits the lines that may match.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Callable, Iterable

from pipeline.model import LogEvent


def _luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = ord(ch) - 48
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


@dataclass(frozen=True, slots=True)
class Pattern:
    name: str
    regex: re.Pattern[str]
    hints: tuple[str, ...] = ()       # the line can only match if it contains one of these
    group: int = 0                    # the group that holds the secret (0: the whole match)
    check: Callable[[str], bool] | None = None  # a match is redacted only if this accepts it


BUILTINS: tuple[Pattern, ...] = (
    Pattern("aws_access_key", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z2-7]{16}(?![A-Z0-9])"),
            hints=("AKIA", "ASIA")),
    Pattern("bearer_token", re.compile(r"\b[Bb](?:earer|EARER)\s+([A-Za-z0-9\-._~+/]{8,}=*)"),
            hints=("earer", "EARER"), group=1),
    Pattern("url_password", re.compile(r"://[^\s:/@]+:([^\s@/]+)@"), hints=("://",), group=1),
    Pattern("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
            hints=("@",)),
    Pattern("card_number", re.compile(r"(?<![\d.])\d(?:[ -]?\d){12,18}(?![\d.])"),
            check=lambda m: _luhn_ok(re.sub(r"\D", "", m))),
)
BUILTIN_NAMES: tuple[str, ...] = tuple(p.name for p in BUILTINS)


class Redactor:
    """Applies the configured patterns to events in place and counts matches per pattern."""

    def __init__(self, builtins: Iterable[str], custom: Iterable[tuple[str, re.Pattern[str]]] = (),
                 key: bytes | None = None) -> None:
        wanted = set(builtins)
        self.patterns = [p for p in BUILTINS if p.name in wanted]
        self.patterns += [Pattern(name, rx) for name, rx in custom]
        self.key = key

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def tag(self, name: str, value: str) -> str:
        if self.key is None:
            return f"[REDACTED:{name}]"
        digest = hmac.new(self.key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        return f"[REDACTED:{name}:{digest[:12]}]"

    def redact_text(self, text: str, counts: dict[str, int] | None = None) -> str:
        """One message; ``counts`` (name → matches) is updated when given."""
        for p in self.patterns:
            if p.hints and not any(h in text for h in p.hints):
                continue
            text = self._apply(p, text, counts if counts is not None else {})
        return text

    def redact_events(self, events: list[LogEvent]) -> dict[str, int]:
        """Redact every event's message in place; returns matches per pattern (only those > 0)."""
        counts: dict[str, int] = {}
        if not self.patterns or not events:
            return counts
        joined = "\n".join([e.message for e in events])
        for p in self.patterns:
            if p.hints:
                if not any(h in joined for h in p.hints):
                    continue
            elif p.regex.search(joined) is None:
                continue
            for e in events:
                msg = e.message
                if p.hints and not any(h in msg for h in p.hints):
                    continue
                e.message = self._apply(p, msg, counts)
        return counts

    def _apply(self, p: Pattern, text: str, counts: dict[str, int]) -> str:
        hits = 0

        def repl(m: re.Match[str]) -> str:
            nonlocal hits
            secret = m.group(p.group)
            if p.check is not None and not p.check(secret):
                return m.group(0)
            hits += 1
            if p.group == 0:
                return self.tag(p.name, secret)
            start, end = m.span(p.group)
            whole = m.group(0)
            base = m.start(0)
            return whole[:start - base] + self.tag(p.name, secret) + whole[end - base:]

        out = p.regex.sub(repl, text)
        if hits:
            counts[p.name] = counts.get(p.name, 0) + hits
        return out
